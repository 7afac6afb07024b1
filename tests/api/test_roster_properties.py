"""Export then import is exact, for random rosters with awkward names (hypothesis)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance.models import School
from tests.conftest import SCHOOL_MORNING

COLUMNS = ["external_id", "name", "group", "enrolled_from", "enrolled_until"]
# Anything a stored name may hold (inputs.clean_name: no control characters, no
# surrogates, no surrounding spaces), with the characters CSV cares about made common.
AWKWARD = st.sampled_from([";", ",", '"', "'", " ", "\u2028", "\u00a0", "é", "李", "🙂", "="])
CHAR = st.one_of(AWKWARD, st.characters(blacklist_categories=("Cc", "Cs")))


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(CHAR, min_size=1, max_size=max_size).map("".join).map(str.strip).filter(bool)


TODAY = SCHOOL_MORNING.date()  # the test pins the app's clock there (frozen_now)


@st.composite
def pupil(draw: st.DrawFn) -> dict[str, str]:
    first = draw(st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)))
    # Enrolled today or later, or the export (rightly) leaves them out.
    low = max(TODAY + dt.timedelta(days=2), first or TODAY)
    last = draw(st.none() | st.dates(low, dt.date(2100, 12, 31)))
    return {
        "name": draw(text(30)),
        "group": draw(st.none() | text(10)) or "",
        "enrolled_from": first.isoformat() if first else "",
        "enrolled_until": last.isoformat() if last else "",
    }


rosters = st.dictionaries(text(12), pupil(), max_size=12)


def as_csv(roster: dict[str, dict[str, str]], delimiter: str, bom: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(COLUMNS)
    for external_id, fields in roster.items():
        writer.writerow([external_id, *(fields[c] for c in COLUMNS[1:])])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


@settings(
    max_examples=int(os.environ.get("ROSTER_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
    database=None,
)
@given(roster=rosters, delimiter=st.sampled_from([",", ";"]), bom=st.booleans())
def test_export_then_import_round_trips_exactly(client, db, frozen_now, roster, delimiter, bom):
    school = School(name="Property Primary")
    db.session.add(school)
    db.session.commit()
    url = f"/api/schools/{school.id}/roster"
    first = client.post(url, data=as_csv(roster, delimiter, bom), content_type="text/csv")
    assert first.status_code == 200, first.json
    assert first.json["data"]["created"] == len(roster), first.json["data"]["rows"]

    exported = client.get(url + ".csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == COLUMNS
    got = {row[0]: dict(zip(COLUMNS[1:], row[1:], strict=True)) for row in rows[1:]}
    assert got == roster

    again = client.post(url, data=exported.get_data(), content_type="text/csv").json["data"]
    assert again["unchanged"] == len(roster)
    assert again["created"] == again["updated"] == again["invalid"] == 0
