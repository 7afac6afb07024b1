"""`flask roster import` and `flask roster export`."""

from __future__ import annotations

import json

from sqlalchemy import select

from attendance.models import User

HEADER = "external_id,name,group,enrolled_from,enrolled_until\n"


def names(db, school_id):
    query = select(User.name).where(User.school_id == school_id).order_by(User.external_id)
    return list(db.session.scalars(query))


def test_import_dry_run_then_real_then_again(runner, db, make_school, tmp_path):
    school = make_school()
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "P1,Ada,5B,,\nP2,Alan,,,\nP3,,,,\n", encoding="utf-8")
    args = ["roster", "import", str(path), "--school", str(school.id)]
    dry = runner.invoke(args=[*args, "--dry-run"])
    assert dry.exit_code == 1  # a row is invalid
    assert "line 2\tP1\tcreated" in dry.output
    assert "line 4\tP3\tinvalid\tname: ['Field may not be null.']" in dry.output
    assert "2 created, 0 updated, 0 unchanged, 0 archived, 1 invalid (dry run" in dry.output
    assert names(db, school.id) == []
    real = runner.invoke(args=args)
    assert real.exit_code == 1
    assert names(db, school.id) == ["Ada", "Alan"]
    again = runner.invoke(args=[*args, "--json"])
    document = json.loads(again.output.splitlines()[-1])["data"]
    assert (document["unchanged"], document["created"], document["invalid"]) == (2, 0, 1)


def test_all_or_nothing_and_archive_missing(runner, db, make_school, tmp_path):
    school = make_school()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(HEADER + "P1,Ada,,,\nP2,Alan,,,\n", encoding="utf-8")
    bad.write_text(HEADER + "P1,Ada,,,\nP9,,,,\n", encoding="utf-8")
    base = ["roster", "import", "--school", str(school.id)]
    assert runner.invoke(args=[*base, str(good)]).exit_code == 0
    refused = runner.invoke(args=[*base, str(bad), "--all-or-nothing", "--archive-missing"])
    assert refused.exit_code == 1
    assert "1 invalid row(s): nothing was imported" in refused.output
    assert names(db, school.id) == ["Ada", "Alan"]
    archived = runner.invoke(args=[*base, str(bad), "--archive-missing"])
    assert "not in the file\tP2\tarchived" in archived.output
    assert db.session.scalar(select(User.deleted_at).where(User.external_id == "P2"))


def test_unreadable_files_and_unknown_schools_are_refused(runner, db, make_school, tmp_path):
    school = make_school()
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + "P1,Zoë,,,\n".encode("latin-1"))
    result = runner.invoke(args=["roster", "import", str(path), "--school", str(school.id)])
    assert result.exit_code == 1
    assert "the file is not UTF-8 text (line 2); nothing was imported" in result.output
    result = runner.invoke(args=["roster", "import", str(path), "--school", "999999"])
    assert result.exit_code == 2 and "there is no school 999999" in result.output


def test_export_round_trips(runner, db, make_school, tmp_path):
    school = make_school()
    path, out = tmp_path / "in.csv", tmp_path / "out.csv"
    path.write_text(HEADER + 'P1,"Ada; ""A""",5B,2026-09-01,\n', encoding="utf-8")
    runner.invoke(args=["roster", "import", str(path), "--school", str(school.id)])
    result = runner.invoke(args=["roster", "export", str(out), "--school", str(school.id)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (
        b'external_id,name,group,enrolled_from,enrolled_until\r\nP1,"Ada; ""A""",5B,2026-09-01,\r\n'
    )
    again = runner.invoke(args=["roster", "import", str(out), "--school", str(school.id)])
    assert again.exit_code == 0 and "0 created, 0 updated, 1 unchanged" in again.output
