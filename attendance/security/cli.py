"""`flask --app attendance token ...` and `flask --app attendance admin ...`."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from ..extensions import db
from ..services import ServiceError
from . import admins, tokens
from .roles import ADMIN_ROLES, TOKEN_ROLES

token_group = AppGroup("token", help="Mint, list and revoke API tokens.")
admin_group = AppGroup("admin", help="Manage dashboard admin accounts.")


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _school(school_id: int | None) -> str:
    return str(school_id) if school_id is not None else "-"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Print rows in columns as wide as their widest cell; the last column runs free."""
    cells = [header, *[tuple(str(value) for value in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    for row in cells:
        click.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))


def _fail(error: ServiceError) -> None:
    db.session.rollback()
    raise click.ClickException(f"{error.field}: {error.message}")


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice(TOKEN_ROLES))
@click.option(
    "--school", "school_id", type=int, help="The school (school, device and staff tokens)."
)
@click.option("--name", default="", help="What the token is for, e.g. 'gate 2, north entrance'.")
def token_create(role: str, school_id: int | None, name: str) -> None:
    """Mint a token; it is printed once, as the last line, and never stored."""
    try:
        row, token = tokens.create_token(role, school_id, name)
    except ServiceError as error:
        _fail(error)
        return
    db.session.commit()
    scope = f"school {row.school_id}" if row.school_id is not None else "every school"
    click.echo(f"Created {row.role} token {row.id} ({row.name!r}) for {scope}.", err=True)
    click.echo("Copy it now: it is not stored and cannot be shown again.", err=True)
    click.echo(token)


@token_group.command("list")
def token_list() -> None:
    """List tokens (never the tokens themselves or their hashes)."""
    rows = [
        (
            t.id,
            t.role,
            _school(t.school_id),
            _when(t.created_at),
            _when(t.last_used_at),
            _when(t.revoked_at),
            t.name,
        )
        for t in tokens.list_tokens()
    ]
    _table(("id", "role", "school", "created", "last used", "revoked", "name"), rows)


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id: requests carrying it answer 401 from now on."""
    try:
        row = tokens.revoke_token(token_id)
    except ServiceError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"Revoked token {row.id} ({row.name!r}) at {_when(row.revoked_at)}.")


def _read_password(confirm: bool = True) -> str:
    """From a prompt (hidden, confirmed) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))
    return sys.stdin.readline().rstrip("\r\n")


@admin_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ADMIN_ROLES))
@click.option("--school", "school_id", type=int, help="The school (school admins).")
def admin_create(email: str, role: str, school_id: int | None) -> None:
    """Create an admin; the password is read from stdin or a prompt, never from arguments."""
    try:
        admin = admins.create_admin(email, _read_password(), role, school_id)
    except ServiceError as error:
        _fail(error)
        return
    db.session.commit()
    scope = f"school {admin.school_id}" if admin.school_id is not None else "every school"
    click.echo(f"Created {admin.role} admin {admin.id} <{admin.email}> for {scope}.")


@admin_group.command("list")
def admin_list() -> None:
    """List admin accounts."""
    rows = [
        (
            a.id,
            a.role,
            _school(a.school_id),
            _when(a.created_at),
            _when(a.last_login_at),
            "yes" if a.disabled else "no",
            a.email,
        )
        for a in admins.list_admins()
    ]
    _table(("id", "role", "school", "created", "last login", "disabled", "email"), rows)


def _admin(email: str) -> admins.Admin:
    admin = admins.find_by_email(email)
    if admin is None:
        raise click.ClickException(f"no admin with email {email}")
    return admin


@admin_group.command("set-password")
@click.option("--email", required=True)
def admin_set_password(email: str) -> None:
    """Set an admin's password, read from stdin or a prompt."""
    admin = _admin(email)
    try:
        admins.set_password(admin, _read_password())
    except ServiceError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"Password changed for <{admin.email}>.")


@admin_group.command("disable")
@click.option("--email", required=True)
def admin_disable(email: str) -> None:
    """Disable an account: it can no longer log in."""
    admins.set_disabled(_admin(email), True)
    db.session.commit()
    click.echo(f"Disabled <{admins.normalise_email(email)}>.")


@admin_group.command("enable")
@click.option("--email", required=True)
def admin_enable(email: str) -> None:
    """Re-enable a disabled account."""
    admins.set_disabled(_admin(email), False)
    db.session.commit()
    click.echo(f"Enabled <{admins.normalise_email(email)}>.")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(token_group)
    app.cli.add_command(admin_group)
