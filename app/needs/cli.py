"""Command-line commands of procurement needs: `flask needs import FILE --org CODE [--status submitted|draft]`."""

from __future__ import annotations

import click
from flask import Flask

from app.actors import SYSTEM
from app.cli_support import organization_by_code, read_file, run_service
from app.extensions import db
from app.needs.services import import_needs


def register(app: Flask) -> None:
    """Add the needs commands to the app's CLI."""
    group = click.Group("needs", help="Procurement needs.")
    app.cli.add_command(group)

    @group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--org", "org_code", required=True, help="Code of the organization the needs belong to (e.g. CHU).")
    @click.option("--status", type=click.Choice(["submitted", "draft"]), default="submitted", show_default=True)
    def import_command(file, org_code, status):
        """Import needs from a CSV or XLSX FILE, all or nothing."""
        organization = organization_by_code(org_code)
        data = read_file(file)
        needs = run_service(
            lambda: import_needs(db.session, SYSTEM, data, file, organization=organization, status=status)
        )
        click.echo(f"{len(needs)} need(s) imported for {organization.name} ({organization.code}), status {status}.")
