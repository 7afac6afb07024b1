"""`flask --app attendance demo`: demo schools, pupils and their check-ins and check-outs.

Two sizes, one generator and one store:

- `--quick` (the default; what `make run` loads): three schools, twelve weeks up to
  now, fever photos and the demo logins, into an empty database, in development only.
- `--big`: the schools, users, seed and dates you ask for, through the database (COPY
  on PostgreSQL) or through the HTTP API of a running server, with a progress bar.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from click.core import ParameterSource
from flask import current_app
from flask.cli import with_appcontext

from .. import clock
from ..extensions import db
from ..security.roles import DEVICE
from ..security.tokens import create_token, revoke_token
from . import load_http, store
from .generate import QUICK_SEED, DemoSpec, quick_spec

# Options of one size only; --schools, --users and --seed serve both, with these defaults.
QUICK_ONLY = ("weeks",)
BIG_ONLY = (
    "start",
    "end",
    "timezones",
    "mode",
    "url",
    "token_file",
    "concurrency",
    "bulk",
    "if_empty",
    "progress",
)
QUICK_DEFAULTS = {"schools": 3, "users": 60, "seed": QUICK_SEED, "weeks": 12}
BIG_DEFAULTS = {"schools": 1, "users": 50, "seed": 1}
QUICK_MAX = {"schools": 50, "users": 5000, "weeks": 52}


@contextlib.contextmanager
def device_tokens(school_ids: list[int], token_file: Path | None) -> Iterator[dict[int, str] | str]:
    """The token(s) to send: the file's, or a device token per school, revoked afterwards."""
    if token_file is not None:
        yield token_file.read_text().strip()
        return
    minted = {
        i: create_token(DEVICE, i, "demo-data (flask demo --big --mode http)") for i in school_ids
    }
    db.session.commit()
    try:
        yield {i: token for i, (_, token) in minted.items()}
    finally:
        for row, _ in minted.values():
            revoke_token(row.id)
        db.session.commit()


@click.command("demo")
@click.option(
    "--quick/--big",
    default=True,
    show_default=True,
    help="--quick: what `make run` loads (three schools, twelve weeks up to now, the demo "
    "logins; an empty database and development only). --big: the data you ask for.",
)
@click.option("--schools", type=int, help="How many schools (quick: 3, big: 1).")
@click.option("--users", type=int, help="Users per school (quick: 60, big: 50).")
@click.option("--seed", type=int, help="Same seed, same data (quick: 2026, big: 1).")
@click.option("--weeks", type=int, help="quick: weeks of events up to today (12).")
@click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="big: first local date (default: 4 weeks before --to).",
)
@click.option(
    "--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="big: last date (default: today)."
)
@click.option(
    "--timezones",
    default="UTC",
    show_default=True,
    help="big: comma-separated IANA names, given to the schools in turn.",
)
@click.option(
    "--mode",
    type=click.Choice(["db", "http"]),
    default="db",
    show_default=True,
    help="big: db, bulk into the database; http, one POST per event through the API.",
)
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="http mode: the server (loopback only); it must use this app's database.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="http mode: a file holding the bearer token to send (default: a device token per "
    "school, minted for the run and revoked after it).",
)
@click.option(
    "--concurrency", default=8, show_default=True, type=int, help="http mode: parallel requests."
)
@click.option(
    "--bulk",
    default=0,
    show_default=True,
    type=int,
    help="http mode: send batches of up to this many events to POST /api/attendances/bulk "
    "(0: one POST per event).",
)
@click.option(
    "--if-empty", is_flag=True, help="big: do nothing when the database already has a school."
)
@click.option(
    "--progress/--no-progress", default=None, help="big: a progress bar (default: on a terminal)."
)
@click.pass_context
@with_appcontext
def demo_command(
    ctx: click.Context,
    quick: bool,
    schools: int | None,
    users: int | None,
    seed: int | None,
    weeks: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    timezones: str,
    mode: str,
    url: str,
    token_file: Path | None,
    concurrency: int,
    bulk: int,
    if_empty: bool,
    progress: bool | None,
) -> None:
    """Demo schools, pupils and their check-ins: --quick (what `make run` loads) or --big."""
    for name in BIG_ONLY if quick else QUICK_ONLY:
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT):
            flag = next(p.opts[0] for p in ctx.command.params if p.name == name)
            raise click.UsageError(f"{flag} goes with --{'big' if quick else 'quick'}")
    defaults = QUICK_DEFAULTS if quick else BIG_DEFAULTS
    schools = defaults["schools"] if schools is None else schools
    users = defaults["users"] if users is None else users
    seed = defaults["seed"] if seed is None else seed
    if quick:
        _quick(schools, users, seed, defaults["weeks"] if weeks is None else weeks)
        return
    _big(
        DemoSpec(schools, users, *_dates(start, end), _zones(timezones), seed),
        mode=mode,
        url=url,
        token_file=token_file,
        concurrency=concurrency,
        bulk=bulk,
        if_empty=if_empty,
        progress=sys.stderr.isatty() if progress is None else progress,
    )


def _quick(schools: int, users: int, seed: int, weeks: int) -> None:
    """Fill an empty database for `make run`, and (re)set the demo logins."""
    if current_app.config["ATTENDANCE_ENV"] != "development":
        raise click.ClickException("demo data is for development only (ATTENDANCE_ENV)")
    given = {"schools": schools, "users": users, "weeks": weeks}
    for name, value in given.items():
        if not 1 <= value <= QUICK_MAX[name]:
            raise click.BadParameter(
                f"must be between 1 and {QUICK_MAX[name]}", param_hint=f"--{name}"
            )
    loaded = None
    if store.is_empty():
        now = clock.now()
        spec = quick_spec(now, schools, users, weeks, seed)
        # Closures a season ahead, so the settings page shows some to come.
        stored = store.prepare(spec, closures_until=spec.end + dt.timedelta(days=90))
        report = store.load_db(spec, stored, now=now, photos=True)
        loaded = spec, stored, now
        click.echo(
            f"Loaded {len(stored)} demo schools, {len(stored) * users} pupils, "
            f"{report.written} check-ins and check-outs over {weeks} weeks."
        )
    else:
        click.echo("The database already has schools: no demo data loaded.")
    accounts = store.demo_admins()
    db.session.commit()
    if loaded is not None:
        # Marks name their author: the district demo admin, who exists from here on.
        count = store.load_marks(*loaded[:2], store.demo_creator(), loaded[2])
        click.echo(f"Recorded {count} marks: sick notes, gate reader faults, planned absences.")
    for email, role, school_id in accounts:
        scope = "every school" if school_id is None else f"school {school_id}"
        click.echo(f"Demo login ({role} admin, {scope}): {email} / {store.DEMO_PASSWORD}")


def _dates(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.date, dt.date]:
    """--from and --to: by default the four weeks up to today."""
    last = end.date() if end is not None else clock.now().date()
    return (start.date() if start is not None else last - dt.timedelta(days=27)), last


def _zones(timezones: str) -> tuple[str, ...]:
    return tuple(z.strip() for z in timezones.split(",") if z.strip()) or ("UTC",)


def _big(
    spec: DemoSpec,
    *,
    mode: str,
    url: str,
    token_file: Path | None,
    concurrency: int,
    bulk: int,
    if_empty: bool,
    progress: bool,
) -> None:
    """Load the data asked for through the database or the HTTP API; reruns add nothing."""
    if if_empty and not store.is_empty():
        click.echo("demo-data: the database already has schools; nothing done")
        return
    try:
        spec.check()
        spec.plans()  # an unknown timezone fails here, before anything is written
        if mode == "http":
            load_http.check_target(url)
            if not 0 <= bulk <= load_http.MAX_BATCH:
                raise ValueError(f"--bulk must be between 0 and {load_http.MAX_BATCH}")
    except (ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from None
    stored = store.prepare(spec)
    click.echo(
        f"demo-data: {len(stored)} schools ({', '.join(str(s.id) for s in stored)}), "
        f"{len(stored) * spec.users} users, {spec.start} to {spec.end}, seed {spec.seed}"
    )
    if mode == "db":
        report = store.load_db(spec, stored, progress=progress)
    else:
        with device_tokens([s.id for s in stored], token_file) as tokens:
            report = load_http.post_rows(
                url,
                (row for _, row in store.all_events(spec, stored, clock.now())),
                tokens=tokens,
                concurrency=concurrency,
                bulk=bulk,
                estimate=spec.estimate(),
                progress=progress,
            )
    for message in report.messages:
        click.echo(f"error: {message}", err=True)
    click.echo(f"demo-data: {report.summary()}")
    if report.errors:
        sys.exit(1)
