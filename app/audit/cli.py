"""`flask audit verify`: recompute the audit trail's hash chain; exit 1 naming the first bad entry."""

from __future__ import annotations

import click
from flask import Flask

from app.audit.chain import verify
from app.audit.services import chain_in_order
from app.extensions import db


def register(app: Flask) -> None:
    group = click.Group("audit", help="The audit trail.")
    app.cli.add_command(group)

    @group.command("verify")
    def verify_command():
        """Recompute the hash chain of the audit trail: exit 0 when intact, 1 naming the first bad entry."""
        entries = chain_in_order(db.session)
        try:
            result = verify(entries)
        finally:
            entries.close()  # a server-side cursor on PostgreSQL: closed although the walk stopped early
            db.session.rollback()
        if not result.intact:
            click.echo(
                f"Audit trail broken at the {result.bad} ({result.entries - 1} entries before it are intact).", err=True
            )
            raise SystemExit(1)
        click.echo(f"Audit trail intact: {result.entries} entries; head hash {result.head_hash}.")
