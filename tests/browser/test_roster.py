"""The roster page in Chromium: upload a CSV, read the preview, confirm, download the export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from attendance.extensions import db
from attendance.models import School, User
from tests.conftest import wipe

pytestmark = pytest.mark.browser

PASSWORD = "browser-roster-password"
ROSTER = (
    "\ufeffexternal_id;name;group;enrolled_from;enrolled_until\n"
    'P1;"Ada ""the first""; King";5B;2026-09-01;\n'
    "P2;Zoë Ñandú;5C;;\n"
    "P3;;5C;;\n"
)


@pytest.fixture
def school_id(app: Flask) -> Iterator[int]:
    """A school with one pupil already on the roster and a district admin."""
    from attendance.security import admins

    with app.app_context():
        school = School(name="Roster Primary")
        db.session.add(school)
        db.session.flush()
        from attendance.services import users

        users.create_user({"name": "Ada", "school_id": school.id, "external_id": "P1"})
        admins.create_admin("roster@example.org", PASSWORD, "district")
        db.session.commit()
        found = school.id
        db.session.remove()
    yield found
    wipe(app)


def pupils(app: Flask, school_id: int) -> list[tuple[Any, ...]]:
    with app.app_context():
        query = select(User.external_id, User.name, User.group).where(User.school_id == school_id)
        rows = [tuple(r) for r in db.session.execute(query.order_by(User.external_id))]
        db.session.remove()
        return rows


def test_upload_preview_confirm_and_export(app, school_id, open_page, tmp_path: Path):
    page = open_page()
    # Straight to the roster page after signing in (the overview would compute reports).
    page.goto(f"/dashboard/login?next=/dashboard/schools/{school_id}/roster")
    page.tab.fill("#email", "roster@example.org")
    page.tab.fill("#password", PASSWORD)
    page.tab.click("button[type=submit]")
    page.tab.wait_for_selector("#roster-file")
    page.tab.set_input_files(
        "#roster-file",
        {"name": "roster.csv", "mimeType": "text/csv", "buffer": ROSTER.encode()},
    )
    page.tab.click("#roster-preview-button")
    page.tab.wait_for_selector("#roster-preview")
    counts = {
        status: page.tab.inner_text(f"#roster-counts [data-status='{status}']")
        for status in ("created", "updated", "unchanged", "archived", "invalid")
    }
    assert counts == {
        "created": "1",
        "updated": "1",
        "unchanged": "0",
        "archived": "0",
        "invalid": "1",
    }
    updated = page.tab.inner_text("#roster-rows tr.roster-updated")
    assert 'name: Ada → Ada "the first"; King' in updated
    assert "group: (empty) → 5B" in updated
    assert "Field may not be null." in page.tab.inner_text("#roster-rows tr.roster-invalid")
    page.screenshot("roster-01-preview")
    assert pupils(app, school_id) == [("P1", "Ada", None)]  # the preview wrote nothing

    page.tab.click("#roster-confirm")
    page.tab.wait_for_load_state()
    assert "Roster imported: 1 created, 1 updated" in page.tab.inner_text("main")
    assert pupils(app, school_id) == [
        ("P1", 'Ada "the first"; King', "5B"),
        ("P2", "Zoë Ñandú", "5C"),
    ]
    page.screenshot("roster-02-imported")

    with page.tab.expect_download() as download:
        page.tab.click("#roster-export")
    saved = tmp_path / "roster.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8").splitlines() == [
        "external_id,name,group,enrolled_from,enrolled_until",
        'P1,"Ada ""the first""; King",5B,2026-09-01,',
        "P2,Zoë Ñandú,5C,,",
    ]
