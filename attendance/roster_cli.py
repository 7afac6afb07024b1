"""`flask --app attendance roster import|export`: the command-line door of the roster engine."""

from __future__ import annotations

import os
import sys
from typing import IO

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import School
from .services.roster import Options, Report, RosterFileError, csv_lines, export_rows, run
from .services.roster.report import INVALID, STATUSES, UNCHANGED

roster_group = AppGroup("roster", help="Import and export a school's pupils as CSV.")


def _school(school_id: int) -> School:
    school = db.session.get(School, school_id)
    if school is None:
        raise click.UsageError(f"there is no school {school_id}")
    return school


def _print(report: Report, verbose: bool) -> None:
    """Each row that is not unchanged (every row with `verbose`), then the counts."""
    for row in report.rows():
        if row.status == UNCHANGED and not verbose:
            continue
        where = f"line {row.line}" if row.line is not None else "not in the file"
        detail = row.errors if row.status == INVALID else row.changes
        text = "; ".join(f"{k}: {v}" for k, v in detail.items())
        click.echo(f"{where}\t{row.external_id}\t{row.status}\t{text}".rstrip())
    counts = ", ".join(f"{report.counts[s]} {s}" for s in STATUSES)
    click.echo(f"roster: {counts}" + (" (dry run: nothing written)" if report.dry_run else ""))


@roster_group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--school", "school_id", type=int, required=True, help="The school's id.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--archive-missing", is_flag=True, help="Archive the school's pupils the file leaves out."
)
@click.option("--all-or-nothing", is_flag=True, help="Import nothing when any row is invalid.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON document.")
@click.option("--verbose", "-v", is_flag=True, help="List unchanged rows too.")
def import_command(
    file: IO[bytes],
    school_id: int,
    dry_run: bool,
    archive_missing: bool,
    all_or_nothing: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Import a roster CSV into a school (FILE, or - for standard input).

    Exits 1 when a row is invalid (the valid ones are imported, unless --all-or-nothing)
    or the file cannot be read as a roster (nothing is imported).
    """
    school = _school(school_id)
    options = Options(dry_run=dry_run, archive_missing=archive_missing)
    size = _size(file)
    with click.progressbar(
        length=size or 1, label="reading", file=sys.stderr, show_eta=True
    ) as bar:
        try:
            report = run(file, school, options, on_bytes=bar.update)
        except RosterFileError as error:
            db.session.rollback()
            raise click.ClickException(f"the file {error}; nothing was imported") from None
        except IntegrityError:
            db.session.rollback()
            raise click.ClickException(
                "the pupils changed during the import; nothing was imported: run it again"
            ) from None
    with report:
        invalid = report.counts[INVALID]
        refused = all_or_nothing and invalid > 0
        if dry_run or refused:
            db.session.rollback()
        else:
            db.session.commit()
        if as_json:  # on one line, written as the rows are read back
            for piece in report.answer():
                click.echo(piece, nl=False)
            click.echo()
        else:
            _print(report, verbose)
    if refused:
        click.echo(f"roster: {invalid} invalid row(s): nothing was imported", err=True)
    if invalid:
        sys.exit(1)


@roster_group.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
@click.option("--school", "school_id", type=int, required=True, help="The school's id.")
def export_command(file: IO[str], school_id: int) -> None:
    """Write the school's roster as CSV (to FILE, or standard output)."""
    for text in csv_lines(export_rows(_school(school_id))):
        file.write(text)


def _size(file: IO[bytes]) -> int | None:
    """The file's size in bytes, when it has one (not a pipe)."""
    try:
        return os.fstat(file.fileno()).st_size or None
    except (OSError, ValueError, AttributeError):
        return None


def init_app(app: Flask) -> None:
    """Register `flask roster`."""
    app.cli.add_command(roster_group)
