"""Command-line entry points: flask seed-demo, flask scheduler."""

from __future__ import annotations

import click
from flask import Flask, current_app


def _report_error(error) -> None:
    """Print a domain error the way a person reads it: the message, then each field or row."""
    click.echo(f"Error: {error.message}", err=True)
    for field, messages in error.details.get("fields", {}).items():
        for message in messages:
            click.echo(f"  {field}: {message}", err=True)
    for row in error.details.get("rows", []):
        where = f"row {row['row']}" if row.get("row") else "file"
        column = f", column {row['column']}" if row.get("column") else ""
        click.echo(f"  {where}{column}: {row['message']}", err=True)


def register(app: Flask) -> None:
    from app.spend import cli as spend_cli

    spend_cli.register(app)

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Create the demo organizations, accounts and suppliers (idempotent; refused in production)."""
        from app.demo import seed_demo
        from app.extensions import db

        if not current_app.config.get("SEED_DEMO_ALLOWED"):
            raise click.ClickException("Demo data is never seeded in production.")
        report = seed_demo(db.session)
        db.session.commit()
        click.echo(
            f"Demo data ready: {report.organizations} organization(s), {report.users} account(s), "
            f"{report.suppliers} supplier(s), {report.needs} need(s), {report.spend_lines} spend line(s), "
            f"{report.groups} group(s) with their calls created (existing ones kept)."
        )

    needs_group = click.Group("needs", help="Procurement needs.")
    app.cli.add_command(needs_group)

    @needs_group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--org", "org_code", required=True, help="Code of the organization the needs belong to (e.g. CHU).")
    @click.option("--status", type=click.Choice(["submitted", "draft"]), default="submitted", show_default=True)
    def import_needs_command(file, org_code, status):
        """Import needs from a CSV or XLSX FILE, all or nothing."""
        import sqlalchemy as sa

        from app.actors import SYSTEM
        from app.errors import DomainError
        from app.extensions import db
        from app.needs.services import import_needs
        from app.organizations.models import Organization

        organization = db.session.scalar(sa.select(Organization).where(Organization.code == org_code.upper()))
        if organization is None:
            codes = ", ".join(db.session.scalars(sa.select(Organization.code).order_by(Organization.code)))
            raise click.ClickException(f"Unknown organization code {org_code!r}. Known codes: {codes or 'none'}.")
        with open(file, "rb") as handle:
            data = handle.read()
        try:
            needs = import_needs(db.session, SYSTEM, data, file, organization=organization, status=status)
        except DomainError as error:
            db.session.rollback()
            _report_error(error)
            raise SystemExit(1) from None
        db.session.commit()
        click.echo(f"{len(needs)} need(s) imported for {organization.name} ({organization.code}), status {status}.")

    @app.cli.command("scheduler")
    def scheduler_command():
        """Run the background job scheduler (one process; jobs stored in the database)."""
        from app.jobs.scheduler import run

        run(current_app._get_current_object())
