"""Command-line commands of the spend map: `flask spend import FILE --org CODE [--format csv|xlsx|decp]`,
`flask spend quarantine IMPORT_ID` (the DECP records an import left out), `flask spend rollback IMPORT_ID`."""

from __future__ import annotations

import click
from flask import Flask
from flask_babel import gettext

from app.actors import SYSTEM
from app.cli_support import organization_by_code, run_service
from app.extensions import db
from app.spend.services import import_notes, import_quarantine, import_spend, quarantine_reason, rollback_import


def register(app: Flask) -> None:
    """Add the spend commands to the app's CLI."""
    group = click.Group("spend", help="Past spend: imports for the category map and the impact figures.")
    app.cli.add_command(group)

    @group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--org", "org_code", required=True, help="Code of the organization the spend belongs to (e.g. DM).")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["csv", "xlsx", "decp"]),
        default=None,
        help="Layout of the file; detected from its content when absent.",
    )
    def import_command(file, org_code, fmt):
        """Import past spend from FILE (CSV, XLSX, or DECP open data as CSV or JSON), all or nothing, of any
        length (read a slice at a time)."""
        organization = organization_by_code(org_code)
        # The file is read from disk a slice at a time: no row limit on the command line.
        record = run_service(
            lambda: import_spend(db.session, SYSTEM, file, file, organization=organization, fmt=fmt, max_rows=None)
        )
        for note in import_notes(record):
            click.echo(f"  note: {note.render()}")
        click.echo(
            f"{record.line_count} spend line(s) imported for {organization.name} ({organization.code}), "
            f"total {record.total_amount:.2f} € excl. VAT, import #{record.id} ({record.format})."
        )
        if record.quarantined_count:
            click.echo(
                f"{record.quarantined_count} record(s) quarantined ({record.line_count} imported + "
                f"{record.skipped_count} skipped + {record.quarantined_count} quarantined = "
                f"{record.line_count + record.skipped_count + record.quarantined_count} records in the file); "
                f"list them with: flask spend quarantine {record.id}"
            )

    @group.command("quarantine")
    @click.argument("import_id", type=int)
    def quarantine_command(import_id):
        """List the DECP records an import left out: row, field, record id, amount as published, reason."""
        record, entries = run_service(lambda: import_quarantine(db.session, SYSTEM, import_id))
        for entry in entries:
            reason = quarantine_reason(entry, gettext)
            click.echo(f"row {entry.row}\t{entry.field or '-'}\t{entry.source_ref}\t{entry.amount}\t{reason}")
        click.echo(f"Import #{record.id}: {len(entries)} record(s) quarantined.")

    @group.command("rollback")
    @click.argument("import_id", type=int)
    def rollback_command(import_id):
        """Roll back a whole import: its lines no longer count (the import stays listed)."""
        record = run_service(lambda: rollback_import(db.session, SYSTEM, import_id))
        click.echo(f"Import #{record.id} rolled back: {record.line_count} line(s) removed.")
