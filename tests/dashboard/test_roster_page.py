"""The roster page: upload, a preview that writes nothing, then confirm."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from attendance.models import User

from .conftest import csrf_token

HEADER = "external_id,name,group,enrolled_from,enrolled_until\n"


def names(db, school_id):
    query = select(User.name).where(User.school_id == school_id).order_by(User.external_id)
    return list(db.session.scalars(query))


@pytest.fixture
def page(client, make_admin, login, make_school):
    """A signed-in district admin on a school's roster page; `upload(text)` previews a file."""
    school = make_school()
    login(make_admin())
    url = f"/dashboard/schools/{school.id}/roster"

    def upload(text: str, **form):
        token = csrf_token(client, url)
        data = {"csrf_token": token, "file": (io.BytesIO(text.encode()), "roster.csv"), **form}
        return client.post(url, data=data, content_type="multipart/form-data")

    return school, url, upload


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def confirm(client, url, html, **changes):
    form = {k: hidden(html, k) for k in ("csrf_token", "token", "digest")}
    if 'name="archive_missing" value="on"' in html:
        form["archive_missing"] = "on"
    return client.post(url + "/confirm", data={**form, **changes})


def test_preview_writes_nothing_and_confirm_imports_it(client, db, page):
    school, url, upload = page
    preview = upload(HEADER + "P1,Ada,5B,,\nP2,,,,\n")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert 'data-status="created">1<' in html and 'data-status="invalid">1<' in html
    assert "name: Field may not be null." in html
    assert names(db, school.id) == []
    done = confirm(client, url, html)
    assert done.status_code == 302
    assert names(db, school.id) == ["Ada"]
    listing = client.get(url).get_data(as_text=True)
    assert "Roster imported: 1 created, 0 updated, 0 unchanged, 0 archived, 1 invalid." in listing
    # The upload is gone once confirmed: a second confirm imports nothing twice.
    again = confirm(client, url, html)
    assert again.status_code == 302 and names(db, school.id) == ["Ada"]


def test_a_change_between_preview_and_confirm_shows_a_new_preview(client, db, page, api):
    school, url, upload = page
    html = upload(HEADER + "P1,Ada,5B,,\n").get_data(as_text=True)
    # Meanwhile someone creates P1 through the API: the preview no longer holds.
    resp = api.post(
        "/api/users", json={"name": "Other", "school_id": school.id, "external_id": "P1"}
    )
    assert resp.status_code == 201
    changed = confirm(client, url, html)
    assert changed.status_code == 409
    text = changed.get_data(as_text=True)
    assert "changed since the preview: nothing was imported" in text
    assert names(db, school.id) == ["Other"]
    assert "name: Other → Ada" in text
    assert confirm(client, url, text).status_code == 302
    assert names(db, school.id) == ["Ada"]


def test_a_tampered_digest_or_token_imports_nothing(client, db, page):
    school, url, upload = page
    html = upload(HEADER + "P1,Ada,,,\n").get_data(as_text=True)
    assert confirm(client, url, html, digest="0" * 64).status_code == 409
    assert confirm(client, url, html, token="forged").status_code == 302
    assert names(db, school.id) == []


def test_archive_missing_is_previewed_and_applied(client, db, page, make_user):
    school, url, upload = page
    make_user(school=school, name="Gone", external_id="P9")
    html = upload(HEADER + "P1,Ada,,,\n", archive_missing="on").get_data(as_text=True)
    assert 'data-status="archived">1<' in html and "not in the file" in html
    confirm(client, url, html)
    gone = db.session.scalar(select(User).where(User.external_id == "P9"))
    assert gone.deleted_at is not None


def test_a_long_preview_lists_its_first_rows_and_counts_the_rest(db, page, monkeypatch):
    from attendance.dashboard import roster as roster_page

    monkeypatch.setattr(roster_page, "SHOWN_ROWS", 2)
    school, url, upload = page
    html = upload(HEADER + "".join(f"P{n},Pupil {n},,,\n" for n in range(5))).get_data(as_text=True)
    assert 'data-status="created">5<' in html
    assert html.count('class="roster-created"') == 2
    assert "and 3 more rows (the counts above are complete)" in html


def test_an_unreadable_file_is_shown_not_imported(client, db, page):
    school, url, upload = page
    resp = upload("name,group\nAda,5B\n")
    assert resp.status_code == 422
    assert "The file the header has no external_id column" in resp.get_data(as_text=True)


def test_export_and_school_scope(client, db, page, make_admin, login, make_school, api):
    school, url, upload = page
    api.post(
        f"/api/schools/{school.id}/roster", data=HEADER + "P1,Ada,,,\n", content_type="text/csv"
    )
    resp = client.get(url + ".csv")
    assert resp.status_code == 200 and resp.get_data(as_text=True).endswith("P1,Ada,,,\r\n")
    other = make_school(name="Other")
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/logout")})
    login(make_admin("school", other.id))
    assert client.get(url).status_code == 403
    assert client.get(url + ".csv").status_code == 403
