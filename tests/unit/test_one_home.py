"""One home per rule: each check, conversion and constant below lives in one module.

The behaviour of each home is tested here; the scans of the package's source make sure no
second copy grows back. (services/reports* and jobs/ are being restructured elsewhere.)
"""

from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from attendance.inputs import MAX_RANGE_DAYS
from attendance.models import Attendance
from attendance.presence import EVENT_TYPES, is_fever, local_date
from attendance.wire import error_body, is_api_path

PACKAGE = Path(__file__).resolve().parents[2] / "attendance"


def _modules() -> dict[str, ast.Module]:
    trees = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(("services/reports", "jobs/")):
            continue
        trees[name] = ast.parse(path.read_text(encoding="utf-8"), name)
    return trees


MODULES = _modules()


def _where(match) -> list[str]:
    """`module:line` of each node of the package's source that `match` accepts."""
    return [
        f"{name}:{node.lineno}"
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if match(node)
    ]


def _outside(places: list[str], *homes: str) -> list[str]:
    return [p for p in places if p.split(":")[0] not in homes]


# -- fever -----------------------------------------------------------------------------


def test_a_fever_reaches_the_threshold():
    assert is_fever(Decimal("37.5"), Decimal("37.5")) is True
    assert is_fever(Decimal("38.20"), Decimal("37.5")) is True
    assert is_fever(Decimal("37.49"), Decimal("37.5")) is False


def test_a_fever_in_sql_is_the_same_comparison():
    condition = is_fever(Attendance.temperature, Decimal("37.5"))
    sql = str(condition.compile(dialect=postgresql.dialect()))
    assert sql == "attendances.temperature >= %(temperature_1)s"


def _compares_threshold(node: ast.AST) -> bool:
    if not isinstance(node, ast.Compare):
        return False
    operands = [node.left, *node.comparators]
    return any(
        isinstance(o, ast.Attribute) and o.attr == "fever_threshold" for o in operands
    ) or any(isinstance(o, ast.Name) and o.id == "fever_threshold" for o in operands)


def test_fever_is_compared_in_one_place():
    assert _outside(_where(_compares_threshold), "presence.py") == []


# -- the school-local date -------------------------------------------------------------


def _local_date_by_hand(node: ast.AST) -> bool:
    """`x.astimezone(...).date()`: a local date worked out outside presence."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "date"
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Attribute)
        and node.func.value.func.attr == "astimezone"
    )


def test_the_local_date_is_worked_out_in_presence_only():
    instant = dt.datetime(2026, 11, 2, 23, 30, tzinfo=dt.UTC)
    assert local_date(instant, "Asia/Ho_Chi_Minh") == dt.date(2026, 11, 3)
    assert _outside(_where(_local_date_by_hand), "presence.py") == []


def _defines(name: str):
    def match(node: ast.AST) -> bool:
        if isinstance(node, ast.FunctionDef):
            return node.name == name
        if isinstance(node, ast.Assign):
            return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        return False

    return match


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("local_date", "presence.py"),
        ("local_today", "presence.py"),
        ("local_day", None),
        ("MAX_RANGE_DAYS", "inputs.py"),
        ("MAX_DAYS", "demo/generate.py"),  # the demo's own size limit, not a report range
        ("CHECKIN", "presence.py"),
        ("CHECKOUT", "presence.py"),
        ("EVENT_TYPES", "presence.py"),
        ("GRANULARITIES", "presence.py"),
        ("MAX_ID", "db_types.py"),
        ("now_default", "db_types.py"),
        ("API_PREFIX", "wire.py"),
        ("PUBLIC_PATHS", "security/principals.py"),
    ],
)
def test_defined_once(name, home):
    homes = [p.split(":")[0] for p in _where(_defines(name))]
    assert homes == ([home] if home else [])


# -- constants -------------------------------------------------------------------------


def test_the_longest_range():
    assert MAX_RANGE_DAYS == 366


def test_event_types_are_spelled_in_presence_only():
    assert EVENT_TYPES == ("checkin", "checkout")

    def spelled(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in EVENT_TYPES

    # dbsetup's are SQLAlchemy's pool events of the same names.
    assert _outside(_where(spelled), "presence.py", "dbsetup.py") == []


# -- API requests and the error envelope -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "api"),
    [
        ("/api", True),
        ("/api/", True),
        ("/api/schools/1", True),
        ("/apis", False),
        ("/api-docs", False),
        ("/dashboard/api", False),
        ("/", False),
    ],
)
def test_is_api_path(path, api):
    assert is_api_path(path) is api


def test_the_api_prefix_is_checked_in_one_place():
    def checks_prefix(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "startswith"
            and any(
                isinstance(a, ast.Constant) and str(a.value).startswith("/api") for a in node.args
            )
        )

    assert _outside(_where(checks_prefix), "wire.py") == []


def test_the_error_envelope_is_built_in_one_place():
    assert error_body({"detail": "no"}) == {"errors": {"detail": "no"}}

    def envelope(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Dict)
            and len(node.keys) == 1
            and isinstance(node.keys[0], ast.Constant)
            and node.keys[0].value == "errors"
        )

    assert _outside(_where(envelope), "wire.py") == []


# -- settings and schemas --------------------------------------------------------------


def test_each_setting_has_one_default():
    config = next(n for n in ast.walk(MODULES["config.py"]) if isinstance(n, ast.ClassDef))
    names = []
    for node in config.body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    assert len(names) > 30
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_the_dashboard_leans_on_no_private_name_of_the_api():
    def from_api(node: ast.AST) -> bool:
        return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("api")

    dashboard = [p for p in _where(from_api) if p.startswith("dashboard/")]
    assert dashboard == []

    def private_import(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.ImportFrom)
            and node.level > 0
            and any(a.name.startswith("_") for a in node.names)
        )

    assert _where(private_import) == []
