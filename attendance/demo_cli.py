"""`flask --app attendance demo-data`: believable schools, users and attendance events."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import exists, select

from . import clock, demo_http
from .demo_load import DemoSpec, all_events, load_db, prepare
from .extensions import db
from .models import School
from .security.models import DEVICE
from .security.tokens import create_token, revoke_token


def _date(value: dt.datetime | None, default: dt.date) -> dt.date:
    return value.date() if value is not None else default


@contextlib.contextmanager
def device_tokens(school_ids: list[int], token_file: Path | None) -> Iterator[dict[int, str] | str]:
    """The token(s) to send: the file's, or a device token per school, revoked afterwards."""
    if token_file is not None:
        yield token_file.read_text().strip()
        return
    minted = {i: create_token(DEVICE, i, "demo-data --mode http") for i in school_ids}
    db.session.commit()
    try:
        yield {i: token for i, (_, token) in minted.items()}
    finally:
        for row, _ in minted.values():
            revoke_token(row.id)
        db.session.commit()


@click.command("demo-data")
@click.option("--schools", default=1, show_default=True, type=int, help="How many schools.")
@click.option("--users", default=50, show_default=True, type=int, help="Users per school.")
@click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First local date (default: 4 weeks before --to).",
)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last date (default: today).")
@click.option(
    "--timezones",
    default="UTC",
    show_default=True,
    help="Comma-separated IANA names, given to the schools in turn.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same data.")
@click.option(
    "--mode",
    type=click.Choice(["db", "http"]),
    default="db",
    show_default=True,
    help="db: bulk into the database; http: one POST per event through the API.",
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
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has a school.")
@click.option(
    "--progress/--no-progress", default=None, help="A progress bar (default: on a terminal)."
)
@with_appcontext
def demo_data_command(
    schools: int,
    users: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
    timezones: str,
    seed: int,
    mode: str,
    url: str,
    token_file: Path | None,
    concurrency: int,
    bulk: int,
    if_empty: bool,
    progress: bool | None,
) -> None:
    """Create demo schools (with closures), users and their check-ins and check-outs."""
    if if_empty and db.session.scalar(select(exists().where(School.id.is_not(None)))):
        click.echo("demo-data: the database already has schools; nothing done")
        return
    last = _date(end, clock.now().date())
    spec = DemoSpec(
        schools=schools,
        users=users,
        start=_date(start, last - dt.timedelta(days=27)),
        end=last,
        timezones=tuple(z.strip() for z in timezones.split(",") if z.strip()) or ("UTC",),
        seed=seed,
    )
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        spec.check()
        spec.plans()  # an unknown timezone fails here, before anything is written
        if mode == "http":
            demo_http.check_target(url)
            if not 0 <= bulk <= demo_http.MAX_BATCH:
                raise ValueError(f"--bulk must be between 0 and {demo_http.MAX_BATCH}")
    except (ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from None
    stored = prepare(spec)
    click.echo(
        f"demo-data: {len(stored)} schools ({', '.join(str(s.id) for s in stored)}), "
        f"{len(stored) * users} users, {spec.start} to {spec.end}, seed {seed}"
    )
    if mode == "db":
        report = load_db(spec, stored, progress=progress)
    else:
        with device_tokens([s.id for s in stored], token_file) as tokens:
            report = demo_http.post_rows(
                url,
                (row for _, row in all_events(spec, stored, clock.now())),
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
