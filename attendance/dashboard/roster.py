"""A school's roster page: upload a CSV, preview what it changes, then confirm.

The upload is kept on the server (ROSTER_UPLOAD_DIR, by default instance/roster-uploads)
under a random token that only the uploader's session knows. The preview is a dry run;
confirming runs the same file for real and compares the outcome's digest with the
preview's: if the file or the pupils changed in between, nothing is written and the new
preview is shown instead.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import School
from ..security.principals import Principal
from ..services import roster
from ..services.roster import report as outcomes
from . import bp
from .auth import current_admin, login_required, school_or_403
from .pipeline import school_today

SESSION_KEY = "roster_upload"
# Rows listed on the preview (the counts are always whole).
SHOWN_ROWS = 1000
UPLOAD_TTL = 24 * 3600  # seconds an unconfirmed upload is kept
CHANGED = "The file or the school's pupils changed since the preview: nothing was imported. "
CHANGED += "Check this new preview, then confirm again."


def upload_dir() -> Path:
    """Where uploads wait for their confirmation (created on first use)."""
    configured = current_app.config.get("ROSTER_UPLOAD_DIR")
    path = Path(configured or os.path.join(current_app.instance_path, "roster-uploads"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _forget_old(folder: Path) -> None:
    """Remove uploads nobody confirmed within UPLOAD_TTL."""
    cutoff = time.time() - UPLOAD_TTL
    for old in folder.glob("*.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except FileNotFoundError:
            pass  # another process removed it first


def _stored(school: School) -> Path | None:
    """The upload this session made for this school, if it still exists."""
    token = request.form.get("token", "")
    kept = session.get(SESSION_KEY) or {}
    if not token or kept.get("token") != token or kept.get("school_id") != school.id:
        return None
    path = upload_dir() / f"{token}.csv"
    return path if path.is_file() else None


def _may_act_for() -> Any:
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required ran
    return Principal.from_admin(admin).sees


def _plan(school: School, path: Path, archive: bool, dry_run: bool) -> roster.Report:
    with path.open("rb") as stream:
        return roster.run(
            stream,
            school,
            roster.Options(dry_run=dry_run, archive_missing=archive),
            may_act_for=_may_act_for(),
        )


def _page(school: School, status: int = 200, **context: Any) -> Any:
    report: roster.Report | None = context.get("report")
    shown: list[outcomes.RowResult] = []
    hidden = 0
    if report is not None:  # the first SHOWN_ROWS rows that are not unchanged
        listed = (r for r in report.rows() if r.status != outcomes.UNCHANGED)
        shown = list(itertools.islice(listed, SHOWN_ROWS))
        hidden = sum(report.counts.values()) - report.counts[outcomes.UNCHANGED] - len(shown)
    return render_template(
        "dashboard/roster.html",
        school=school,
        today=school_today(school),
        rng=None,
        shown=shown,
        hidden=hidden,
        **context,
    ), status


@bp.before_app_request
def _roster_body_limit() -> None:
    """An upload may be larger than the app-wide limit (set before the CSRF check reads it)."""
    if request.endpoint == "dashboard.roster_preview":
        request.max_content_length = current_app.config["ROSTER_MAX_CONTENT_LENGTH"]


@bp.get("/schools/<int:school_id>/roster")
@login_required
def roster_page(school_id: int) -> Any:
    """The upload form and the export link."""
    return _page(school_or_403(school_id))


@bp.get("/schools/<int:school_id>/roster.csv")
@login_required
def roster_export(school_id: int) -> Any:
    """The school's roster as CSV (what the API's export answers)."""
    school = school_or_403(school_id)
    rows = roster.csv_lines(roster.export_rows(school))
    response = Response(stream_with_context(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{roster.filename(school)}"'
    return response


@bp.post("/schools/<int:school_id>/roster")
@login_required
def roster_preview(school_id: int) -> Any:
    """Keep the uploaded file and show what importing it would change (nothing is written)."""
    school = school_or_403(school_id)
    upload = request.files.get("file")
    archive = request.form.get("archive_missing") == "on"
    if upload is None or not upload.filename:
        return _page(school, 422, error="Choose a CSV file to upload.")
    folder = upload_dir()
    _forget_old(folder)
    token = secrets.token_urlsafe(24)
    path = folder / f"{token}.csv"
    upload.save(path)
    try:
        report = _plan(school, path, archive, dry_run=True)
    except roster.RosterFileError as error:
        db.session.rollback()
        path.unlink(missing_ok=True)
        return _page(school, 422, error=f"The file {error}. Nothing was imported.")
    db.session.rollback()
    session[SESSION_KEY] = {"token": token, "school_id": school.id}
    with report:
        return _page(school, report=report, token=token, archive=archive, filename=upload.filename)


@bp.post("/schools/<int:school_id>/roster/confirm")
@login_required
def roster_confirm(school_id: int) -> Any:
    """Import the previewed file, if it still does exactly what the preview showed."""
    school = school_or_403(school_id)
    path = _stored(school)
    if path is None:
        flash("That preview has expired or belongs to another session: upload the file again.")
        return redirect(url_for("dashboard.roster_page", school_id=school.id))
    archive = request.form.get("archive_missing") == "on"
    try:
        report = _plan(school, path, archive, dry_run=False)
    except (roster.RosterFileError, IntegrityError):
        db.session.rollback()
        flash("The file could not be imported: upload it again.", "error")
        return redirect(url_for("dashboard.roster_page", school_id=school.id))
    with report:
        if report.digest != request.form.get("digest"):
            db.session.rollback()  # its rows are what a new preview would show
            token = path.stem
            return _page(school, 409, report=report, token=token, archive=archive, error=CHANGED)
        counts = ", ".join(f"{report.counts[s]} {s}" for s in outcomes.STATUSES)
    db.session.commit()
    path.unlink(missing_ok=True)
    session.pop(SESSION_KEY, None)
    flash(f"Roster imported: {counts}.", "ok")
    return redirect(url_for("dashboard.roster_page", school_id=school.id))
