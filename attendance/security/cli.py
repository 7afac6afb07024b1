"""`flask --app attendance token ...` and `flask --app attendance admin ...`."""

from __future__ import annotations

import datetime as dt
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from ..extensions import db
from ..services import ServiceError
from . import admins, tokens
from .models import ADMIN_ROLES, TOKEN_ROLES

token_group = AppGroup("token", help="Mint, list and revoke API tokens.")
admin_group = AppGroup("admin", help="Manage dashboard admin accounts.")


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _fail(error: ServiceError) -> None:
    db.session.rollback()
    raise click.ClickException(f"{error.field}: {error.message}")


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice(TOKEN_ROLES))
@click.option("--school", "school_id", type=int, help="The school (school and device tokens).")
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
    click.echo(
        f"{'id':>4}  {'role':8}  {'school':>6}  {'created':20}  {'last used':20}  "
        f"{'revoked':20}  name"
    )
    for row in tokens.list_tokens():
        school = str(row.school_id) if row.school_id is not None else "-"
        click.echo(
            f"{row.id:>4}  {row.role:8}  {school:>6}  {_when(row.created_at):20}  "
            f"{_when(row.last_used_at):20}  {_when(row.revoked_at):20}  {row.name}"
        )


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
    click.echo(
        f"{'id':>4}  {'role':8}  {'school':>6}  {'created':20}  {'last login':20}  "
        f"{'disabled':8}  email"
    )
    for admin in admins.list_admins():
        school = str(admin.school_id) if admin.school_id is not None else "-"
        click.echo(
            f"{admin.id:>4}  {admin.role:8}  {school:>6}  {_when(admin.created_at):20}  "
            f"{_when(admin.last_login_at):20}  {'yes' if admin.disabled else 'no':8}  "
            f"{admin.email}"
        )


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
