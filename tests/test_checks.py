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
    op.f("name"), "table", "sql")` of every migration, by name, in revision order. A
    migration that builds a check's SQL from a variable states what it leaves in a
    module-level `CHECKS = {name: sql}`, which wins over what the older ones made."""
    made = {}
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        tree = ast.parse(path.read_text())
        stated = _stated_checks(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create_check_constraint"
            ):
                name, _, sql = node.args
                assert isinstance(name, ast.Call)
                if name.args[0].value in stated:
                    continue
                assert isinstance(sql, ast.Constant)
                made[name.args[0].value] = sql.value
                continue
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "CheckConstraint"
            ):
                continue
            name = next(k.value for k in node.keywords if k.arg == "name")
            key = name.value if isinstance(name, ast.Constant) else name.args[0].value
            if key in stated:
                continue
            assert isinstance(node.args[0], ast.Constant), key
            made[key] = node.args[0].value
        made.update(stated)
    return made


def _stated_checks(tree: ast.Module) -> dict[str, str]:
    """A migration's `CHECKS = {name: sql}`, its values literal or module-level constants."""
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "CHECKS" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return {
                ast.literal_eval(key): (
                    constants[value.id] if isinstance(value, ast.Name) else value.value
                )
                for key, value in zip(node.value.keys, node.value.values, strict=True)
                if key is not None and isinstance(value, ast.Name | ast.Constant)
            }
    return {}


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
