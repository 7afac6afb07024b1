"""Admin accounts: argon2id hashes, district or school role, authenticate() for the dashboard."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from attendance.security import admins
from attendance.services import ServiceError

PASSWORD = "correct horse battery staple"


def test_create_and_authenticate(db, make_school):
    school = make_school()
    admin = admins.create_admin(" Head@Hillside.example ", PASSWORD, "school", school.id)
    db.session.commit()
    assert admin.email == "head@hillside.example"
    assert admin.password_hash.startswith("$argon2id$")
    assert PASSWORD not in admin.password_hash
    assert admin.last_login_at is None and admin.disabled is False
    found = admins.authenticate("HEAD@hillside.example", PASSWORD)
    assert found is not None and found.id == admin.id
    assert found.role == "school" and found.school_id == school.id
    assert found.last_login_at is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("head@hillside.example", "wrong password!!"),
        ("nobody@hillside.example", PASSWORD),
        ("head@hillside.example", ""),
        ("head@hillside.example", "x" * 5000),
    ],
)
def test_wrong_credentials_give_none(db, email, password):
    admins.create_admin("head@hillside.example", PASSWORD, "district")
    db.session.commit()
    assert admins.authenticate(email, password) is None


def test_disabled_accounts_cannot_log_in(db):
    admin = admins.create_admin("ops@district.example", PASSWORD, "district")
    admins.set_disabled(admin, True)
    db.session.commit()
    assert admins.authenticate("ops@district.example", PASSWORD) is None
    admins.set_disabled(admin, False)
    assert admins.authenticate("ops@district.example", PASSWORD) is not None


def test_old_parameters_are_rehashed_on_login(db):
    admin = admins.create_admin("ops@district.example", PASSWORD, "district")
    admin.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    db.session.commit()
    assert admins.authenticate("ops@district.example", PASSWORD) is not None
    assert "m=8192" not in admin.password_hash


def test_set_password(db):
    admin = admins.create_admin("ops@district.example", PASSWORD, "district")
    admins.set_password(admin, "another long passphrase")
    assert admins.authenticate("ops@district.example", PASSWORD) is None
    assert admins.authenticate("ops@district.example", "another long passphrase") is not None


@pytest.mark.parametrize(
    ("email", "password", "role", "school", "field"),
    [
        ("not-an-email", PASSWORD, "district", None, "email"),
        ("a@b.example", "short", "district", None, "password"),
        ("a@b.example", PASSWORD, "device", None, "role"),
        ("a@b.example", PASSWORD, "school", None, "school_id"),
        ("a@b.example", PASSWORD, "school", 999, "school_id"),
        ("a@b.example", PASSWORD, "district", 1, "school_id"),
    ],
)
def test_create_admin_validation(db, make_school, email, password, role, school, field):
    make_school()
    with pytest.raises(ServiceError) as error:
        admins.create_admin(email, password, role, school)
    assert error.value.field == field


def test_emails_are_unique_whatever_their_case(db):
    admins.create_admin("ops@district.example", PASSWORD, "district")
    with pytest.raises(ServiceError) as error:
        admins.create_admin("OPS@district.example", PASSWORD, "district")
    assert error.value.field == "email"
