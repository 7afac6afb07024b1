"""The pupil page's forms: marks, clearing, enrolment dates and moves, through the
services the API uses; the page's figures follow at once and equal the API's."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from attendance.models import Enrolment, Mark

from .conftest import csrf_token
from .test_pages import aggregate, range_args, tiles
from .test_settings_form import TEXT

ONE_DAY = dt.timedelta(days=1)


@pytest.fixture
def pupil(hillside):
    """Ada of Hillside (every day a school day): present two days ago (5 h), absent
    yesterday, in school today; Brook and Cyrus beside her."""
    school, (ada, brook, cyrus), days = hillside
    return school, ada, days, (brook, cyrus)


def page_of(school, user, days) -> str:
    return f"/dashboard/schools/{school.id}/users/{user.id}?{range_args(days)}"


@pytest.fixture
def signed_in(client, make_admin, login):
    """Sign in as a new admin (district unless told); returns the admin."""

    def do(role: str = "district", school=None):
        admin = make_admin(role, None if school is None else school.id)
        login(admin)
        return admin

    return do


def post(client, url: str, page: str, **form: Any):
    """Post a form of `page` (its CSRF token) to `url`."""
    return client.post(url, data={"csrf_token": csrf_token(client, page), **form})


def mark_url(school, user, days) -> str:
    return f"/dashboard/schools/{school.id}/users/{user.id}/marks?{range_args(days)}"


def marks_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Mark))


def life_of(api, school, user, days) -> dict[str, Any]:
    """The API's figures of one pupil over the range (users=true)."""
    doc = aggregate(api, school, range_args(days) + "&users=true")
    return next(u for u in doc["users"] if u["user_id"] == user.id)


def kpis_match_the_api(page: str, life: dict[str, Any]) -> None:
    shown = tiles(page)
    for key in ("present_days", "absent_days", "excused_days"):
        assert shown[key] == str(life[key]), key


def test_mark_a_day_then_clear_it_figures_follow_at_once(api, client, signed_in, pupil, db):
    school, ada, days, _ = pupil
    admin = signed_in()
    url = page_of(school, ada, days)
    before = client.get(url).get_data(as_text=True)
    kpis_match_the_api(before, life_of(api, school, ada, days))
    assert tiles(before)["present_days"] == "2" and tiles(before)["excused_days"] == "0"
    # A range wholly past: its report is shared until something changes one of its dates.
    past = page_of(school, ada, days[:2])
    assert tiles(client.get(past).get_data(as_text=True))["present_days"] == "1"

    resp = post(
        client,
        mark_url(school, ada, days),
        url,
        date=str(days[0]),
        status="absent",
        excused="true",
        reason="Sick note from her father",
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == (
        f"/dashboard/schools/{school.id}/users/{ada.id}?from={days[0]}&to={days[-1]}"
    )
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"Marked absent, excused on {days[0]}" in page
    life = life_of(api, school, ada, days)
    assert (life["present_days"], life["absent_days"], life["excused_days"]) == (1, 2, 1)
    kpis_match_the_api(page, life)
    assert tiles(client.get(past).get_data(as_text=True))["present_days"] == "0"
    # The calendar tells the day, the reason and who made the mark.
    row = re.search(rf'<tr data-day="{days[0]}" data-status="(\w+)".*?</tr>', page, re.S)
    assert row and row.group(1) == "excused"
    assert "Sick note from her father" in row.group(0) and admin.email in row.group(0)
    [mark] = db.session.scalars(select(Mark)).all()
    assert mark.created_by == f"admin:{admin.id}" and mark.excused
    assert f'data-mark-id="{mark.id}"' in page.split('id="marks-table"')[1]

    # Clear it: the figures come back, the history keeps both entries.
    resp = post(
        client,
        f"/dashboard/schools/{school.id}/users/{ada.id}/marks/{mark.id}/clear?{range_args(days)}",
        url,
    )
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"The mark on {days[0]} was cleared" in page
    life = life_of(api, school, ada, days)
    assert (life["present_days"], life["excused_days"]) == (2, 0)
    kpis_match_the_api(page, life)
    assert tiles(client.get(past).get_data(as_text=True))["present_days"] == "1"
    assert 'id="marks-table"' not in page
    history = page.split('id="history-table"')[1].split("</table>")[0]
    assert history.count("data-mark-id=") == 2 and "cleared" in history
    assert [m.status for m in db.session.scalars(select(Mark).order_by(Mark.id))] == [
        "absent",
        "cleared",
    ]


def test_mark_a_range_a_planned_absence(api, client, signed_in, pupil, db):
    school, ada, days, _ = pupil
    signed_in()
    url = page_of(school, ada, days)
    later = days[-1] + 3 * ONE_DAY
    resp = post(
        client,
        mark_url(school, ada, days),
        url,
        **{"from": str(days[1]), "to": str(later), "status": "absent", "reason": "Family trip"},
    )
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Marked absent on 5 school days" in page
    listed = re.findall(r'<tr data-mark-id="\d+" data-day="([\d-]+)">', page)
    expected = [days[1] + n * ONE_DAY for n in range(5)]
    assert listed == [str(d) for d in reversed(expected)]
    # Today is now absent (Ada is in, but the mark decides); yesterday was absent already.
    life = life_of(api, school, ada, days)
    assert (life["present_days"], life["absent_days"], life["excused_days"]) == (1, 2, 0)
    kpis_match_the_api(page, life)
    # A mark after the range shows in the calendar once the range holds it.
    ahead = client.get(
        f"/dashboard/schools/{school.id}/users/{ada.id}?from={days[0]}&to={later}"
    ).get_data(as_text=True)
    assert re.search(rf'<tr data-day="{later}" data-status="absent"', ahead)


TOMORROW = "tomorrow"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"date": "yesterday", "reason": ""}, "reason", "Length must be between 1 and 200."),
        ({"date": "yesterday", "reason": None}, "reason", "Length must be between 1 and 200."),
        ({"date": TOMORROW, "status": "present"}, "date", "a present mark may not be given"),
        ({"date": "yesterday", "status": "present", "excused": "true"}, "excused", "absent"),
        ({"from": "yesterday", "to": "2000-01-01"}, "to", "must not be before from"),
        ({"from": "2024-01-01", "to": "yesterday"}, "to", "at most 366 days"),
        ({"date": "yesterday", "from": "yesterday", "to": "yesterday"}, "date", "not both"),
        ({}, "date", "is required"),
        ({"from": "yesterday"}, "to", "is required with the other end"),
        ({"date": "2026-13-01"}, "date", "Not a valid date."),
        ({"date": "long ago"}, "date", "Not a valid date."),
        ({"date": "yesterday", "status": "maybe"}, "status", "must be present or absent"),
        ({"date": "yesterday", "excused": "yes"}, "excused", "Not a valid boolean."),
        ({"date": "yesterday", "reason": "bad\x00text"}, "reason", ""),
        ({"date": "before"}, "date", "not enrolled at this school on that date"),
    ],
)
def test_mark_errors_name_the_field(client, signed_in, pupil, db, make_user, form, field, message):
    school, _ada, days, _ = pupil
    newcomer = make_user(school=school, name="Newcomer", enrolled_from=days[1])
    signed_in()
    words = {
        "yesterday": str(days[1]),
        TOMORROW: str(days[-1] + ONE_DAY),
        "before": str(days[0]),
    }
    data = {"status": "absent", "reason": "A reason", **form}
    data = {k: words.get(v, v) for k, v in data.items() if v is not None}
    url = page_of(school, newcomer, days)
    resp = post(client, mark_url(school, newcomer, days), url, **data)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    error = re.search(rf'<div class="error-text" id="mark-{field}-error">([^<]*)</div>', page)
    assert error, f"no error under {field}"
    assert message in html.unescape(error.group(1))
    assert f'aria-describedby="mark-{field}-error"' in page
    assert "The mark was not recorded" in page
    assert marks_count(db) == 0
    # The page shown again links to itself, not to the form's route.
    assert f'action="/dashboard/schools/{school.id}/users/{newcomer.id}"' in page
    # What was typed is kept.
    if data.get("reason") and "\x00" not in data["reason"]:
        assert f'value="{data["reason"]}"' in page


def test_forms_need_csrf(client, signed_in, pupil, db, make_school):
    school, ada, days, _ = pupil
    signed_in()
    client.get(page_of(school, ada, days))
    base = f"/dashboard/schools/{school.id}/users/{ada.id}"
    mark = {"date": str(days[1]), "status": "absent", "reason": "x"}
    other = make_school(name="Riverside")
    for path, form in (
        ("/marks", mark),
        ("/enrolment", {"enrolled_from": str(days[0])}),
        ("/move", {"school_id": str(other.id)}),
    ):
        resp = client.post(base + path, data=form)
        assert resp.status_code == 400, path
        assert "reload the page" in resp.get_data(as_text=True)
    assert marks_count(db) == 0
    resp = post(client, base + "/marks", page_of(school, ada, days), **mark)
    assert resp.status_code == 302
    [entry] = db.session.scalars(select(Mark)).all()
    assert client.post(f"{base}/marks/{entry.id}/clear").status_code == 400
    assert marks_count(db) == 1


def test_school_admin_acts_on_their_pupils_only_and_cannot_move(
    client, signed_in, pupil, db, make_school, make_user
):
    school, ada, days, _ = pupil
    other = make_school(name="Riverside")
    stranger = make_user(school=other, name="Stranger")
    signed_in("school", school)
    url = page_of(school, ada, days)
    page = client.get(url).get_data(as_text=True)
    assert 'id="mark-form"' in page and 'id="enrolment-form"' in page
    assert 'id="move-form"' not in page and "Riverside" not in page
    mark = {"date": str(days[1]), "status": "absent", "reason": "Ill"}
    assert post(client, mark_url(school, ada, days), url, **mark).status_code == 302
    # Moving is a district admin's: refused even to their own pupil, to any school.
    move = f"/dashboard/schools/{school.id}/users/{ada.id}/move"
    assert post(client, move, url, school_id=str(other.id)).status_code == 403
    db.session.refresh(ada)
    assert ada.school_id == school.id
    # Another school's pages and forms are not theirs.
    theirs = f"/dashboard/schools/{other.id}/users/{stranger.id}"
    assert client.get(theirs).status_code == 403
    assert post(client, theirs + "/marks", url, **mark).status_code == 403
    assert post(client, theirs + "/enrolment", url, enrolled_from="").status_code == 403
    # A pupil of another school under this school's address: not found.
    mixed = f"/dashboard/schools/{school.id}/users/{stranger.id}"
    assert post(client, mixed + "/marks", url, **mark).status_code == 404
    assert post(client, mixed + "/enrolment", url, enrolled_from="").status_code == 404
    assert marks_count(db) == 1


def test_clearing_another_pupils_mark_is_404(client, signed_in, pupil, db):
    school, ada, days, (brook, _) = pupil
    signed_in()
    url = page_of(school, ada, days)
    mark = {"date": str(days[1]), "status": "absent", "reason": "Ill"}
    post(client, mark_url(school, brook, days), url, **mark)
    [entry] = db.session.scalars(select(Mark)).all()
    wrong = f"/dashboard/schools/{school.id}/users/{ada.id}/marks/{entry.id}/clear"
    assert post(client, wrong, url).status_code == 404
    assert post(client, wrong.replace(str(entry.id), "999999"), url).status_code == 404
    assert marks_count(db) == 1


def test_edit_the_enrolment_dates(api, client, signed_in, pupil, db):
    school, ada, days, _ = pupil
    signed_in()
    url = page_of(school, ada, days)
    edit = f"/dashboard/schools/{school.id}/users/{ada.id}/enrolment?{range_args(days)}"
    # Enrolled from yesterday: two days ago is no longer counted.
    resp = post(client, edit, url, enrolled_from=str(days[1]), enrolled_until="")
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "The enrolment dates were saved" in page
    shown = api.get(f"/api/users/{ada.id}").json["data"]["enrolments"]
    assert [(e["from"], e["until"]) for e in shown] == [(str(days[1]), None)]
    life = life_of(api, school, ada, days)
    assert life["counted_days"] == 2
    assert tiles(page)["present_days"] == str(life["present_days"])
    assert f"of {life['counted_days']} school days" in page
    assert re.search(rf'<tr data-day="{days[0]}" data-status="not_enrolled"', page)

    # Errors name the field and change nothing.
    for form, field, message in (
        ({"enrolled_from": str(days[1]), "enrolled_until": str(days[0])}, "enrolled_until",
         "must not be before enrolled_from"),
        ({"enrolled_from": "31/12/2026"}, "enrolled_from", "Not a valid date."),
    ):  # fmt: skip
        resp = post(client, edit, url, **form)
        assert resp.status_code == 422
        page = resp.get_data(as_text=True)
        assert re.search(rf'id="enrolment-{field}-error">{message}</div>', page), field
    mine = select(Enrolment).where(Enrolment.user_id == ada.id)
    assert [(e.from_, e.until) for e in db.session.scalars(mine)] == [(days[1], None)]


def test_district_admin_moves_a_pupil(api, client, signed_in, pupil, db, make_school):
    school, ada, days, _ = pupil
    riverside = make_school(name="Riverside Academy")
    signed_in()
    url = page_of(school, ada, days)
    page = client.get(url).get_data(as_text=True)
    assert 'id="move-form"' in page and "Riverside Academy" in page
    move = f"/dashboard/schools/{school.id}/users/{ada.id}/move"

    for form, field, message in (
        ({"school_id": str(school.id)}, "school_id", "is the pupil&#39;s school already"),
        ({"school_id": "999999"}, "school_id", "school 999999 does not exist"),
        ({"school_id": "abc"}, "school_id", "Not a valid integer."),
        ({"school_id": str(riverside.id), "enrolled_from": "soon"}, "enrolled_from",
         "Not a valid date."),
    ):  # fmt: skip
        resp = post(client, move, url, **form)
        assert resp.status_code == 422, form
        assert re.search(rf'id="move-{field}-error">{message}</div>', resp.get_data(as_text=True))
    db.session.refresh(ada)
    assert ada.school_id == school.id

    resp = post(client, move, url, school_id=str(riverside.id))
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/dashboard/schools/{riverside.id}/users/{ada.id}"
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Ada was moved to Riverside Academy" in page
    # presence.md's move: ended yesterday at the old school, open from today at the new one.
    shown = api.get(f"/api/users/{ada.id}").json["data"]
    assert shown["school_id"] == riverside.id
    assert [(e["school_id"], e["from"], e["until"]) for e in
            shown["enrolments"]] == [
        (school.id, None, str(days[1])),
        (riverside.id, str(days[-1]), None),
    ]  # fmt: skip
    # The old school's page of the pupil is gone; its figures keep her past.
    assert client.get(url).status_code == 404
    life = life_of(api, school, ada, days)
    assert life["counted_days"] == 2


def test_archived_pupil_keeps_marks_but_not_enrolment_forms(api, client, signed_in, pupil, db):
    school, ada, days, _ = pupil
    assert api.delete(f"/api/users/{ada.id}").status_code == 204
    signed_in()
    url = page_of(school, ada, days)
    page = client.get(url).get_data(as_text=True)
    assert "archived" in page and 'id="enrolment-form"' not in page and 'id="move-form"' not in page
    edit = f"/dashboard/schools/{school.id}/users/{ada.id}/enrolment"
    assert post(client, edit, url, enrolled_from="").status_code == 404
    # Her past can still be corrected.
    mark = {"date": str(days[1]), "status": "absent", "excused": "true", "reason": "Ill"}
    assert post(client, mark_url(school, ada, days), url, **mark).status_code == 302
    assert life_of(api, school, ada, days)["excused_days"] == 1


FORMS = {
    "marks": ("date", "from", "to", "status", "excused", "reason"),
    "enrolment": ("enrolled_from", "enrolled_until"),
    "move": ("school_id", "enrolled_from"),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_random_values_never_give_500(client, signed_in, pupil, form):
    """Whatever a field holds, a form answers with the page (422) or a redirect."""
    school, ada, days, _ = pupil
    signed_in()
    url = page_of(school, ada, days)
    token = csrf_token(client, url)
    action = f"/dashboard/schools/{school.id}/users/{ada.id}/{form}?{range_args(days)}"

    @given(value=TEXT, field=st.sampled_from([*FORMS[form], "all"]))
    @example(value="9" * 40, field="all")
    @settings(
        max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "50")) // 3,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=os.environ.get("CI") == "true",
        database=None,
    )
    def check(value, field):
        names = FORMS[form] if field == "all" else (field,)
        data = {"csrf_token": token, **dict.fromkeys(names, value)}
        resp = client.post(action, data=data)
        assert resp.status_code in (302, 422), resp.get_data(as_text=True)[:500]

    check()
