"""What the command-line commands of every feature share: the organization a file belongs to, and the one way a
command runs a service (commit once; or roll back, print each problem the way a person reads it, exit status 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
import sqlalchemy as sa

from app.actions import run
from app.errors import DomainError
from app.extensions import db
from app.organizations.models import Organization

T = TypeVar("T")


def report_error(error: DomainError) -> None:
    """Print a domain error the way a person reads it: the message, then each field or row."""
    click.echo(f"Error: {error.message}", err=True)
    for field, messages in error.details.get("fields", {}).items():
        for message in messages:
            click.echo(f"  {field}: {message}", err=True)
    for row in error.details.get("rows", []):
        where = f"row {row['row']}" if row.get("row") else "file"
        column = f", column {row['column']}" if row.get("column") else ""
        click.echo(f"  {where}{column}: {row['message']}", err=True)


def organization_by_code(code: str) -> Organization:
    """The organization with this code (any case); an unknown code stops the command, listing the known ones."""
    organization = db.session.scalar(sa.select(Organization).where(Organization.code == code.upper()))
    if organization is None:
        codes = ", ".join(db.session.scalars(sa.select(Organization.code).order_by(Organization.code)))
        raise click.ClickException(f"Unknown organization code {code!r}. Known codes: {codes or 'none'}.")
    return organization


def read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def run_service(action: Callable[[], T]) -> T:
    """Run a service call through the one action path (commit once, side effects after the commit); on a domain
    error (rolled back) print it and exit with status 1."""
    try:
        return run(action)
    except DomainError as error:
        report_error(error)
        raise SystemExit(1) from None
