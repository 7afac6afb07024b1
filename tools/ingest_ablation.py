#!/usr/bin/env python3
"""What the check-in's required parts and Flask cost under load (`make bench-ingest-ablation`).

Serves, side by side under the project's gunicorn.conf.py and `make bench-ingest`'s
settings: the real app; the real app without its request log line, its metrics and its
security headers (`tools/ablated_app.py`), each of those off alone; the real app with a
check-in's usual case answered outside Flask's request pipeline, log, metrics and
headers on (`tools/shortcut_prototype.py`, a prototype); and the bare app.
Each is loaded in turn, in rotating order, for `--rounds` rounds; the table shows each
one's median rate, its ratio to the bare app's, and the CPU per request of the web
processes and of PostgreSQL over its rounds (read from /proc).

A diagnostic, not a way to run the service: it answers how far the parts the ingest
issue requires (logging and metrics on) stand between the check-in and the bare insert.
It drops and reseeds the benchmark database, as `make bench-ingest` does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bench_ingest as bench  # noqa: E402 - tools/bench_ingest.py, beside this script

VARIANTS = {
    "real": "",
    "no log": "log",
    "no metrics": "metrics",
    "no headers": "headers",
    "none of the three": "log,metrics,headers",
    "outside Flask": "flask",
}
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Every process's command line and CPU seconds so far."""
    seen: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        seen[int(entry)] = (command, (int(stat[11]) + int(stat[12])) / TICK)
    return seen


def spent(before: dict[int, tuple[str, float]], port: int) -> tuple[float, float]:
    """CPU seconds since `before` of the web processes on `port`, and of PostgreSQL's."""
    web = pg = 0.0
    for pid, (command, seconds) in cpu_seconds().items():
        delta = seconds - before.get(pid, (command, 0.0))[1]
        if "gunicorn" in command and f":{port} " in command + " ":
            web += delta
        elif command.startswith("postgres"):
            pg += delta
    return web, pg


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_DATABASE_URL", bench.DEFAULT_DATABASE)
    )
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", bench.DEFAULT_REDIS))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant (3)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per round (8)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (8)")
    parser.add_argument("--port", type=int, default=8780, help="this port and the next seven")
    args = parser.parse_args(argv)
    settings = bench.Settings(
        database=args.database.replace("postgresql+psycopg://", "postgresql://"),
        redis=args.redis,
        worker_class="gthread",
        workers=2,
        threads=4,
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=3.0,
        rounds=args.rounds,
        bulk_events=0,
        port=args.port,
    )
    school, users, token = bench.reset_and_seed(settings.database)
    env = {**bench.real_app_env(settings, "bench-ablation"), "BARE_DATABASE_URL": settings.database}
    names = [*VARIANTS, "bare"]
    ports = {name: settings.port + n for n, name in enumerate(names)}
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    with contextlib.ExitStack() as servers:
        urls = {}
        for name in names:
            spec = "tools.bare_insert_app:app" if name == "bare" else "tools.ablated_app:app"
            server_env = {**env, "ABLATE": VARIANTS.get(name, "")}
            urls[name] = servers.enter_context(
                bench.gunicorn(spec, settings, ports[name], server_env)
            )
        for url in urls.values():
            bench.load(url, settings, school, users, token, settings.warmup)
        for n in range(settings.rounds):
            for name in names[n % len(names) :] + names[: n % len(names)]:
                before = cpu_seconds()
                result = bench.measure_http(urls[name], settings, school, users, token)
                web, pg = spent(before, ports[name])
                rates[name].append(result.rate)
                cpu[name].append((web, pg, result.rate * settings.duration))
                print(f"round {n + 1}: {name} {result.rate:.0f} req/s", file=sys.stderr)
    bare = statistics.median(rates["bare"])
    print(
        f"check-ins less required parts: gunicorn gthread, 2 workers x 4 threads; "
        f"{settings.concurrency} connections; {settings.rounds} rounds of {settings.duration:g} s"
    )
    print(f"{'':<20}{'req/s':>8}{'/ bare':>8}{'web CPU/req':>13}{'PG CPU/req':>12}  rounds")
    for name in names:
        rate = statistics.median(rates[name])
        requests = sum(c[2] for c in cpu[name])
        web = sum(c[0] for c in cpu[name]) / requests * 1e6
        pg = sum(c[1] for c in cpu[name]) / requests * 1e6
        rounds = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"{name:<20}{rate:>8.0f}{rate / bare:>8.2f}{web:>10.0f} us{pg:>9.0f} us  [{rounds}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
