"""`flask token ...` and `flask admin ...`."""

from __future__ import annotations

from sqlalchemy import select

from attendance.security import admins, tokens
from attendance.security.models import Admin, ApiToken

PASSWORD = "correct horse battery staple"


def test_token_create_prints_the_token_last(runner, client_as, make_school):
    school = make_school()
    result = runner.invoke(
        args=["token", "create", "--role", "device", "--school", str(school.id), "--name", "gate 1"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("att_")
    resp = client_as(token).get("/api/users")
    assert resp.status_code == 200


def test_token_create_refuses_bad_input(runner, make_school):
    assert runner.invoke(args=["token", "create", "--role", "device"]).exit_code != 0
    assert (
        runner.invoke(args=["token", "create", "--role", "school", "--school", "999"]).exit_code
        != 0
    )
    assert runner.invoke(args=["token", "create", "--role", "root"]).exit_code != 0


def test_token_list_shows_no_secrets(runner, db):
    created = runner.invoke(args=["token", "create", "--role", "district", "--name", "ops laptop"])
    token = created.output.strip().splitlines()[-1]
    listing = runner.invoke(args=["token", "list"])
    assert listing.exit_code == 0
    assert "ops laptop" in listing.output and "district" in listing.output
    row = db.session.scalar(select(ApiToken))
    assert token not in listing.output and row.token_hash not in listing.output
    assert tokens.hash_token(token)[:12] not in listing.output


def test_token_revoke(runner, db, client_as):
    token = (
        runner.invoke(args=["token", "create", "--role", "district"])
        .output.strip()
        .splitlines()[-1]
    )
    row = db.session.scalar(select(ApiToken))
    result = runner.invoke(args=["token", "revoke", str(row.id)])
    assert result.exit_code == 0 and "Revoked" in result.output
    assert client_as(token).get("/api/schools").status_code == 401
    assert runner.invoke(args=["token", "revoke", "999"]).exit_code != 0
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert (
        row.revoked_at.strftime("%Y-%m-%d %H:%M:%SZ")
        in runner.invoke(args=["token", "list"]).output
    )


def test_admin_create_reads_the_password_from_stdin(runner, db, make_school):
    school = make_school()
    result = runner.invoke(
        args=[
            "admin",
            "create",
            "--email",
            "Head@School.example",
            "--role",
            "school",
            "--school",
            str(school.id),
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert admins.authenticate("head@school.example", PASSWORD) is not None


def test_admin_create_has_no_password_argument(runner):
    result = runner.invoke(
        args=[
            "admin",
            "create",
            "--email",
            "a@b.example",
            "--role",
            "district",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code != 0
    assert "No such option" in result.output


def test_admin_create_refuses_a_short_password(runner, db):
    result = runner.invoke(
        args=["admin", "create", "--email", "a@b.example", "--role", "district"], input="short\n"
    )
    assert result.exit_code != 0
    assert "password" in result.output
    assert db.session.scalar(select(Admin)) is None


def test_admin_list_set_password_disable(runner, db):
    runner.invoke(
        args=["admin", "create", "--email", "ops@d.example", "--role", "district"],
        input=PASSWORD + "\n",
    )
    listing = runner.invoke(args=["admin", "list"])
    assert "ops@d.example" in listing.output and "$argon2" not in listing.output
    changed = runner.invoke(
        args=["admin", "set-password", "--email", "ops@d.example"], input="a new long passphrase\n"
    )
    assert changed.exit_code == 0
    assert admins.authenticate("ops@d.example", "a new long passphrase") is not None
    assert runner.invoke(args=["admin", "disable", "--email", "ops@d.example"]).exit_code == 0
    assert admins.authenticate("ops@d.example", "a new long passphrase") is None
    assert runner.invoke(args=["admin", "enable", "--email", "ops@d.example"]).exit_code == 0
    assert runner.invoke(args=["admin", "disable", "--email", "nobody@d.example"]).exit_code != 0


def test_token_create_staff_is_bound_to_a_school(runner, client_as, make_school):
    school = make_school()
    assert runner.invoke(args=["token", "create", "--role", "staff"]).exit_code != 0
    result = runner.invoke(
        args=["token", "create", "--role", "staff", "--school", str(school.id), "--name", "Ms Ng"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert client_as(token).get(f"/api/schools/{school.id}/roll-calls").status_code == 200
    assert client_as(token).get("/api/users").status_code == 403
