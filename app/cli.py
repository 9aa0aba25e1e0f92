"""Command-line entry points: flask seed-demo, flask scheduler, and each feature's own commands (flask needs …,
flask spend …), which the features register themselves."""

from __future__ import annotations

import click
from flask import Flask, current_app

from app.audit import cli as audit_cli
from app.needs import cli as needs_cli
from app.spend import cli as spend_cli


def register(app: Flask) -> None:
    needs_cli.register(app)
    audit_cli.register(app)
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

    @app.cli.command("scheduler")
    def scheduler_command():
        """Run the background job scheduler (one process; jobs stored in the database)."""
        from app.jobs.scheduler import run

        run(current_app._get_current_object())
