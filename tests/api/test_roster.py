"""POST /api/schools/:id/roster and GET /api/schools/:id/roster.csv (docs/rosters.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from attendance.models import Enrolment, User
from attendance.services import enrolments as spans

HEADER = "external_id,name,group,enrolled_from,enrolled_until\n"


def post(client, school_id, body: str | bytes, query: str = "", **kwargs):
    """The import's answer, read whole and closed, as a server does with every answer.

    Unbuffered, an answer a test reads only the status of stays open, and so does the
    report whose file it streams, until the garbage collector gets to it (a caught
    ValidationError's frames can keep the test's frame, and its locals, alive that long).
    """
    data = body.encode() if isinstance(body, str) else body
    return client.post(
        f"/api/schools/{school_id}/roster{query}",
        data=data,
        content_type=kwargs.pop("content_type", "text/csv"),
        buffered=True,
        **kwargs,
    )


def pupils(db, school_id):
    query = select(User).where(User.school_id == school_id).order_by(User.external_id)
    return list(db.session.scalars(query))


def by_line(resp):
    return {row["line"]: row for row in resp.json["data"]["rows"]}


def test_import_creates_then_the_same_file_changes_nothing(client, db, make_school):
    school = make_school()
    body = HEADER + "P1,Ada Lovelace,5B,2026-09-01,\nP2,Alan Turing,,,2027-06-30\n"
    first = post(client, school.id, body)
    assert first.status_code == 200, first.json
    data = first.json["data"]
    assert (data["dry_run"], data["created"], data["invalid"]) == (False, 2, 0)
    assert data["rows"][0] == {
        "line": 2,
        "external_id": "P1",
        "status": "created",
        "changes": {
            "name": [None, "Ada Lovelace"],
            "group": [None, "5B"],
            "enrolled_from": [None, "2026-09-01"],
        },
        "errors": {},
    }
    stored = pupils(db, school.id)
    assert [(u.external_id, u.name, u.group) for u in stored] == [
        ("P1", "Ada Lovelace", "5B"),
        ("P2", "Alan Turing", None),
    ]
    spans_ = [(e.from_, e.until) for u in stored for e in u.enrolments]
    assert spans_ == [(dt.date(2026, 9, 1), None), (None, dt.date(2027, 6, 30))]
    again = post(client, school.id, body).json["data"]
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 2


def test_a_dry_run_answers_what_the_real_run_does_and_writes_nothing(client, db, make_school):
    school = make_school()
    post(client, school.id, HEADER + "P1,Ada,5B,,\nP2,Alan,5B,,\n")
    body = HEADER + "P1,Ada King,5B,,\nP2,Alan,5B,,\nP3,Grace,5C,,\nP4,,,,\n"
    dry = post(client, school.id, body, "?dry_run=true&archive_missing=true")
    assert dry.status_code == 200
    assert dry.json["data"]["dry_run"] is True
    assert [u.name for u in pupils(db, school.id)] == ["Ada", "Alan"]
    real = post(client, school.id, body, "?archive_missing=true").json["data"]
    assert real["dry_run"] is False
    assert {k: v for k, v in dry.json["data"].items() if k != "dry_run"} == {
        k: v for k, v in real.items() if k != "dry_run"
    }
    assert [u.name for u in pupils(db, school.id)] == ["Ada King", "Alan", "Grace"]
    assert by_line(dry)[2]["changes"] == {"name": ["Ada", "Ada King"]}


def test_invalid_rows_are_reported_with_their_line_and_the_valid_ones_imported(
    client, db, make_school
):
    school = make_school()
    body = (
        HEADER
        + "P1,Ada,5B,2026-09-01,\n"  # 2: fine
        + 'P2,"Two\nlines",5B,,\n'  # 3-4: a quoted line break: a control character
        + "P3,Bob,5B,01/09/2026,\n"  # 5: not an ISO date
        + "P4,Eve,5B,2026-09-05,2026-09-01\n"  # 6: until before from
        + ",Nobody,5B,,\n"  # 7: no external_id
        + "P1,Ada again,5B,,\n"  # 8: P1 twice
        + "P5,,5B,,\n"  # 9: a new pupil needs a name
        + "P6,Zoe,5B,,,surplus\n"  # 10: a cell too many
        + f"P7,{'x' * 201},,,\n"  # 11: a name too long
        + "P8,Fine,,,\n"  # 12: fine
    )
    resp = post(client, school.id, body)
    assert resp.status_code == 200
    data, rows = resp.json["data"], by_line(resp)
    assert (data["created"], data["invalid"]) == (2, 8)
    assert rows[2]["status"] == rows[12]["status"] == "created"
    assert rows[3]["errors"] == {"name": ["must not contain control characters"]}
    assert rows[5]["errors"] == {"enrolled_from": ["Not a valid date."]}
    assert rows[6]["errors"] == {"enrolled_until": ["must not be before enrolled_from"]}
    assert rows[7]["errors"] == {"external_id": ["must not be empty: it names the pupil"]}
    assert rows[8]["errors"] == {"external_id": ["appears twice in the file (line 2)"]}
    assert rows[9]["errors"] == {"name": ["Field may not be null."]}
    assert rows[10]["errors"] == {"row": ["has 6 cells but the header has 5 columns"]}
    assert list(rows[11]["errors"]) == ["name"]
    assert all(r["status"] == "invalid" for n, r in rows.items() if n not in (2, 12))
    assert [u.external_id for u in pupils(db, school.id)] == ["P1", "P8"]


def test_a_blank_cell_empties_the_field_and_missing_columns_are_left_alone(client, db, make_school):
    school = make_school()
    post(client, school.id, HEADER + "P1,Ada,5B,2026-09-01,2027-06-30\n")
    resp = post(client, school.id, "external_id,group,enrolled_until\nP1,,\n")
    assert by_line(resp)[2]["changes"] == {
        "group": ["5B", None],
        "enrolled_until": ["2027-06-30", None],
    }
    (user,) = pupils(db, school.id)
    assert (user.name, user.group) == ("Ada", None)
    assert [(e.from_, e.until) for e in user.enrolments] == [(dt.date(2026, 9, 1), None)]


def test_bom_semicolons_quotes_crlf_and_a_multipart_upload(client, db, make_school):
    school = make_school()
    text = '\ufeffexternal_id;name;group\r\n"P;1";"Ada ""the first"" King, Jr.";5B\r\nP2;Zoë;\r\n'
    upload = {"file": (io.BytesIO(text.encode()), "roster.csv")}
    resp = client.post(
        f"/api/schools/{school.id}/roster", data=upload, content_type="multipart/form-data"
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["data"]["created"] == 2
    assert [(u.external_id, u.name, u.group) for u in pupils(db, school.id)] == [
        ("P2", "Zoë", None),
        ("P;1", 'Ada "the first" King, Jr.', "5B"),
    ]


def test_archive_missing_archives_the_pupils_left_out(client, db, make_school, make_user):
    school = make_school()
    post(client, school.id, HEADER + "P1,Ada,,,\nP2,Alan,,,\n")
    keeper = make_user(school=school, name="No number")
    resp = post(client, school.id, HEADER + "P1,Ada,,,\n", "?archive_missing=true")
    data = resp.json["data"]
    assert (data["unchanged"], data["archived"]) == (1, 1)
    assert data["rows"][-1] == {
        "line": None,
        "external_id": "P2",
        "status": "archived",
        "changes": {},
        "errors": {},
    }
    archived = {u.external_id: u.deleted_at is not None for u in pupils(db, school.id)}
    assert archived == {"P1": False, "P2": True, None: False}
    db.session.refresh(keeper)
    assert keeper.deleted_at is None
    # An archived pupil's number in a later file is reported, not silently restored.
    again = post(client, school.id, HEADER + "P2,Alan,,,\n")
    assert by_line(again)[2]["status"] == "invalid"
    assert "archived" in by_line(again)[2]["errors"]["external_id"][0]


def test_archive_missing_reads_the_school_a_page_at_a_time(client, db, make_school, monkeypatch):
    from attendance.services import roster

    monkeypatch.setattr(roster, "CHUNK_ROWS", 2)
    school = make_school()
    post(client, school.id, HEADER + "".join(f"P{n},Pupil {n},,,\n" for n in range(7)))
    body = HEADER + "P3,Pupil 3,,,\nP5,,,2026-13-01,\n"  # P5's row is invalid: still named
    dry = post(client, school.id, body, "?archive_missing=true&dry_run=true").json["data"]
    real = post(client, school.id, body, "?archive_missing=true").json["data"]
    assert dry["rows"][2:] == real["rows"][2:]
    archived = [(r["external_id"], r["status"]) for r in real["rows"][2:]]
    assert archived == [(f"P{n}", "archived") for n in (0, 1, 2, 4, 6)]
    kept = [u.external_id for u in pupils(db, school.id) if u.deleted_at is None]
    assert kept == ["P3", "P5"]


def test_all_or_nothing_imports_nothing_when_a_row_is_invalid(client, db, make_school):
    school = make_school()
    body = HEADER + "P1,Ada,,,\nP2,,,,\n"
    resp = post(client, school.id, body, "?all_or_nothing=true")
    assert resp.status_code == 422
    errors = resp.json["errors"]
    assert errors["detail"] == "1 invalid row(s): nothing was imported"
    assert [r["line"] for r in errors["rows"]] == [3]
    assert pupils(db, school.id) == []
    fine = post(client, school.id, HEADER + "P1,Ada,,,\n", "?all_or_nothing=true")
    assert fine.status_code == 200
    assert len(pupils(db, school.id)) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"external_id,name\nP1,Ada\nP2,\xff\xfe\n", "is not UTF-8 text (line 3)"),
        (b"name,group\nAda,5B\n", "the header has no external_id column"),
        (b"external_id,nmae\nP1,Ada\n", "unknown column 'nmae'"),
        (b"external_id,name,name\nP1,Ada,Ada\n", "column 'name' appears twice"),
        (b"", "is empty"),
        (b'external_id,name\nP1,"Ada\n', "line 2"),
    ],
)
def test_a_file_that_is_not_a_roster_is_refused_whole(client, db, make_school, body, message):
    school = make_school()
    resp = post(client, school.id, body)
    assert resp.status_code == 422, resp.json
    assert message in resp.json["errors"]["file"][0]
    assert pupils(db, school.id) == []


def test_a_late_unreadable_line_rolls_back_the_rows_before_it(client, db, make_school, monkeypatch):
    from attendance.services import roster

    monkeypatch.setattr(roster, "CHUNK_ROWS", 2)
    school = make_school()
    body = (HEADER + "".join(f"P{n},Pupil {n},,,\n" for n in range(10))).encode() + b"P,\xff\n"
    resp = post(client, school.id, body)
    assert resp.status_code == 422
    assert pupils(db, school.id) == []


def test_other_bodies_and_oversized_ones_are_refused(app, client, make_school, monkeypatch):
    school = make_school()
    resp = client.post(f"/api/schools/{school.id}/roster", json={"external_id": "P1"})
    assert resp.status_code == 415
    resp = client.post(
        f"/api/schools/{school.id}/roster", data={}, content_type="multipart/form-data"
    )
    assert resp.status_code == 422 and "file" in resp.json["errors"]
    monkeypatch.setitem(app.config, "ROSTER_MAX_CONTENT_LENGTH", 1000)
    resp = post(client, school.id, HEADER + "P1,Ada,,,\n" * 200)
    assert resp.status_code == 413
    assert set(resp.json) == {"errors"}


def test_export_then_import_is_all_unchanged(client, db, make_school, make_user, frozen_now):
    school = make_school(timezone="Europe/Paris")  # exported: enrolled today or later
    body = (
        HEADER
        + 'P1,"Ada; ""A"", King",5B,2026-09-01,\n'
        + "P2,Zoë Ñandú 李,,,2027-06-30\n"
        + "P3,=cmd,5C,2025-01-01,2030-01-01\n"
    )
    post(client, school.id, body)
    make_user(school=school, name="No number")  # not in a roster: it names no one
    make_user(school=school, name="Left", external_id="P0", enrolled_until=dt.date(2020, 1, 1))
    resp = client.get(f"/api/schools/{school.id}/roster.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv" and resp.mimetype_params["charset"] == "utf-8"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows == [
        ["external_id", "name", "group", "enrolled_from", "enrolled_until"],
        ["P1", 'Ada; "A", King', "5B", "2026-09-01", ""],
        ["P2", "Zoë Ñandú 李", "", "", "2027-06-30"],
        ["P3", "=cmd", "5C", "2025-01-01", "2030-01-01"],
    ]
    again = post(client, school.id, resp.get_data()).json["data"]
    assert (again["unchanged"], again["created"], again["updated"], again["invalid"]) == (
        3,
        0,
        0,
        0,
    )


def test_a_district_file_moves_pupils_by_the_move_rule(client, db, make_school, frozen_now):
    here, there = make_school(name="Hillside"), make_school(name="Riverside")
    post(client, here.id, HEADER + "P1,Ada,5B,2025-09-01,\nP2,Alan,5B,2025-09-01,\n")
    body = "external_id,name,school\nP1,Ada,Riverside\nP2,Alan,\nP3,Grace," + str(there.id) + "\n"
    resp = post(client, here.id, body)
    rows = by_line(resp)
    today = spans.school_today(there)
    assert rows[2]["status"] == "updated"
    assert rows[2]["changes"] == {
        "school": [here.id, there.id],
        "enrolled_from": ["2025-09-01", today.isoformat()],
    }
    assert rows[3]["status"] == "unchanged"
    assert rows[4]["status"] == "created"
    ada = db.session.scalar(select(User).where(User.name == "Ada"))
    assert ada.school_id == there.id
    assert [(e.school_id, e.from_, e.until) for e in ada.enrolments] == [
        (here.id, dt.date(2025, 9, 1), today - dt.timedelta(days=1)),
        (there.id, today, None),
    ]
    assert db.session.scalar(select(User.school_id).where(User.name == "Grace")) == there.id
    # The same file again: Ada is found at her new school, nothing changes.
    again = post(client, here.id, body).json["data"]
    assert (again["unchanged"], again["updated"], again["created"]) == (3, 0, 0)


def test_a_school_admin_cannot_name_another_school(client_as, db, make_school):
    here, there = make_school(name="Hillside"), make_school(name="Riverside")
    admin = client_as("school", here)
    body = "external_id,name,school\nP1,Ada,Riverside\nP2,Bob,999999\nP3,Eve,Hillside\n"
    rows = by_line(post(admin, here.id, body))
    message = "no school you may act for has this id or name"
    assert rows[2]["errors"] == rows[3]["errors"] == {"school": [message]}
    assert rows[4]["status"] == "created"
    assert pupils(db, there.id) == []


def test_a_new_date_edits_the_latest_enrolment(client, db, make_school):
    school = make_school()
    post(client, school.id, HEADER + "P1,Ada,5B,2026-09-01,\n")
    (user,) = pupils(db, school.id)
    resp = post(client, school.id, HEADER + "P1,Ada,5B,2026-10-01,\n")
    assert by_line(resp)[2]["changes"] == {"enrolled_from": ["2026-09-01", "2026-10-01"]}
    db.session.expire_all()
    assert [(e.from_, e.until) for e in user.enrolments] == [(dt.date(2026, 10, 1), None)]


def test_a_failed_commit_closes_the_report(client, db, make_school, monkeypatch):
    """The answer closes the report once sent; an import whose commit fails has no answer,
    so the route closes it itself."""
    from attendance.services import roster

    school = make_school()
    made: list[roster.Report] = []
    run = roster.run

    def commit():
        raise RuntimeError("the database went away")

    def planned_then_commit_fails(*args, **kwargs):
        made.append(run(*args, **kwargs))
        monkeypatch.setattr(db.session, "commit", commit)
        return made[-1]

    monkeypatch.setattr(roster, "run", planned_then_commit_fails)
    with pytest.raises(RuntimeError, match="went away"):
        post(client, school.id, HEADER + "P1,Ada,,,\n")
    assert len(made) == 1 and made[0]._file.closed
