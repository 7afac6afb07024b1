"""The checks cover the code: mypy reads the whole package, as strictly as before."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import attendance.models  # noqa: F401 - registers every table
from attendance.extensions import db

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_checks_the_whole_package():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    mypy = config["mypy"]
    assert [f.strip() for f in mypy["files"].split(",")] == ["attendance"]
    for flag in ("disallow_untyped_defs", "warn_unused_ignores", "no_implicit_optional"):
        assert mypy.getboolean(flag), flag


def _migrations_checks() -> dict[str, str]:
    """`sa.CheckConstraint("sql", name=op.f("name"))` and `op.create_check_constraint(
    op.f("name"), "table", "sql")` of every migration, by name."""
    made = {}
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create_check_constraint"
            ):
                name, _, sql = node.args
                assert isinstance(name, ast.Call) and isinstance(sql, ast.Constant)
                made[name.args[0].value] = sql.value
                continue
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "CheckConstraint"
            ):
                continue
            name = next(k.value for k in node.keywords if k.arg == "name")
            assert isinstance(name, ast.Call) and isinstance(node.args[0], ast.Constant)
            made[name.args[0].value] = node.args[0].value
    return made


def test_check_constraints_are_those_the_migrations_made():
    """The models build some checks from the code's constants: the SQL must not drift."""
    made = _migrations_checks()
    models = {
        str(c.name): str(c.sqltext)
        for table in db.metadata.tables.values()
        for c in table.constraints
        if hasattr(c, "sqltext")
    }
    assert {"ck_attendances_type", "ck_api_tokens_role", "ck_admins_school_binding"} <= set(models)
    assert models == {name: made.get(name) for name in models}
