"""Spend imports: all or nothing, recorded with the file's SHA-256 per organization so the same file is never counted
twice; lines already imported from another file are skipped; an admin may roll an import back as a whole."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import ADMINS, SEE_ALL, require_role
from app.audit.services import record as audit
from app.clock import utcnow
from app.domain.spend_import import FORMATS, parse_spend
from app.domain.tabular import Message
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.organizations.models import Organization
from app.reference.models import CpvCode
from app.spend.models import SpendCell, SpendImport, SpendLine
from app.spend.services.access import reader_scope
from app.spend.services.cube import CELL_PREFIX, IN_BATCH
from app.validation import refuse_bad_rows


@dataclass
class SpendPreview:
    organization: Organization
    format: str
    sha256: str
    rows: list[dict]
    new_rows: list[dict]
    notes: list[Message]
    sheet: str | None

    @property
    def skipped(self) -> int:
        return len(self.rows) - len(self.new_rows)

    @property
    def total_amount(self) -> Decimal:
        return sum((r["amount"] for r in self.new_rows), Decimal(0))


def _import_organization(session: Session, actor, organization: Organization | str | None) -> Organization:
    if isinstance(organization, str):
        code = organization.strip().upper()
        organization = session.scalar(sa.select(Organization).where(Organization.code == code)) if code else None
        if organization is None and code:
            raise ValidationFailed({"organization": [str(_l("Unknown organization code."))]})
    if actor.role == "buyer":
        if organization is not None and organization.id != actor.organization_id:
            raise NotPermitted(str(_l("Buyers import their own organization's spend only.")))
        return session.get(Organization, actor.organization_id)
    require_role(actor, SEE_ALL, _l("Only buyers, coordinators and admins import spend."))
    if organization is None:
        raise ValidationFailed({"organization": [str(_l("Choose the organization the spend belongs to."))]})
    return organization


def _active_import_with(session: Session, organization_id: int, sha256: str) -> SpendImport | None:
    return session.scalar(
        sa.select(SpendImport).where(
            SpendImport.organization_id == organization_id, SpendImport.active_sha256 == sha256
        )
    )


def _duplicate(existing: SpendImport) -> Conflict:
    return Conflict(
        "duplicate_import",
        str(
            _l(
                "This file was already imported for %(org)s on %(day)s (import #%(id)s): nothing was imported again.",
                org=existing.organization.code,
                day=existing.imported_at.date().isoformat(),
                id=existing.id,
            )
        ),
        details={"import_id": existing.id},
    )


def _known_fingerprints(session: Session, organization_id: int, fingerprints: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(fingerprints), IN_BATCH):
        batch = fingerprints[start : start + IN_BATCH]
        found.update(
            session.scalars(
                sa.select(SpendLine.fingerprint).where(
                    SpendLine.organization_id == organization_id, SpendLine.fingerprint.in_(batch)
                )
            )
        )
    return found


def check_spend_import(
    session: Session,
    actor,
    data: bytes,
    filename: str,
    *,
    organization: Organization | str | None = None,
    fmt: str | None = None,
) -> SpendPreview:
    """Validate a whole file for an organization; raise ValidationFailed listing every bad row, Conflict
    duplicate_import for a file already imported, or return the preview of what would be imported."""
    organization = _import_organization(session, actor, organization)
    if fmt is not None and fmt not in FORMATS:
        raise ValidationFailed({"format": [str(_l("The format is csv, xlsx or decp."))]})
    sha256 = hashlib.sha256(data).hexdigest()
    existing = _active_import_with(session, organization.id, sha256)
    if existing is not None:
        raise _duplicate(existing)
    check_digits = dict(session.execute(sa.select(CpvCode.code, CpvCode.check_digit)).all())
    result = parse_spend(
        data, filename, known_cpv=check_digits.get, requested_format=fmt, buyer_siret=organization.siret
    )
    refuse_bad_rows(result.errors, result.rows)
    known = _known_fingerprints(session, organization.id, [r["fingerprint"] for r in result.rows])
    new_rows = [r for r in result.rows if r["fingerprint"] not in known]
    notes = list(result.notes)
    if known:
        skipped = len(result.rows) - len(new_rows)
        notes.append(
            Message(
                None,
                None,
                "%(count)s line(s) of this file were already imported from another file for this organization: "
                "they are skipped so that nothing is counted twice.",
                {"count": skipped},
            )
        )
    return SpendPreview(
        organization=organization,
        format=result.format,
        sha256=sha256,
        rows=result.rows,
        new_rows=new_rows,
        notes=notes,
        sheet=result.sheet,
    )


_LINE_FIELDS = (
    "spend_date",
    "year",
    "cpv_code",
    "amount",
    "supplier_siret",
    "supplier_name",
    "supplier_postcode",
    "supplier_city",
    "co_contractors",
    "description",
    "source_ref",
    "procedure",
    "duration_months",
    "fingerprint",
)


def supplier_key(siret: str | None, name: str | None) -> str:
    return siret or (name or "").strip().upper()[:200]


def sum_cells(rows: list[dict]) -> list[dict]:
    """The import's rows summed per year × CPV category × supplier × supplier location (exact Decimal sums)."""
    sums: dict[tuple, list] = {}
    for row in rows:
        key = (
            row["year"],
            row["cpv_code"][:CELL_PREFIX],
            supplier_key(row["supplier_siret"], row["supplier_name"]),
            row["supplier_postcode"],
            row["supplier_city"],
        )
        cell = sums.setdefault(key, [Decimal(0), 0])
        cell[0] += row["amount"]
        cell[1] += 1
    return [
        {
            "year": year,
            "cpv_prefix": prefix,
            "supplier_key": key,
            "supplier_postcode": postcode,
            "supplier_city": city,
            "amount": amount,
            "lines": lines,
        }
        for (year, prefix, key, postcode, city), (amount, lines) in sums.items()
    ]


def import_spend(
    session: Session,
    actor,
    data: bytes,
    filename: str,
    *,
    organization: Organization | str | None = None,
    fmt: str | None = None,
    is_synthetic: bool = False,
) -> SpendImport:
    """All or nothing: the whole file is checked first; then its new lines and their cells are written."""
    preview = check_spend_import(session, actor, data, filename, organization=organization, fmt=fmt)
    if not preview.new_rows:
        raise Conflict(
            "duplicate_import",
            str(_l("Every line of this file was already imported for this organization: nothing to import.")),
        )
    rows = preview.new_rows
    record = SpendImport(
        organization_id=preview.organization.id,
        imported_by_id=actor.id,
        format=preview.format,
        filename=filename[-200:],
        sha256=preview.sha256,
        active_sha256=preview.sha256,
        line_count=len(rows),
        skipped_count=preview.skipped,
        total_amount=preview.total_amount,
        first_date=min(r["spend_date"] for r in rows),
        last_date=max(r["spend_date"] for r in rows),
        is_synthetic=is_synthetic,
        notes=json.dumps([{"message": n.message, "params": n.params, "row": n.row} for n in preview.notes]),
    )
    session.add(record)
    # The same file imported meanwhile by another request breaks the unique (organization, active_sha256): the
    # caller's transaction rolls back and app.actions runs the import again, which then finds that import.
    session.flush()
    organization_id = preview.organization.id
    session.execute(
        sa.insert(SpendLine),
        [{"import_id": record.id, "organization_id": organization_id, **{f: r[f] for f in _LINE_FIELDS}} for r in rows],
    )
    session.execute(
        sa.insert(SpendCell),
        [{"import_id": record.id, "organization_id": organization_id, **cell} for cell in sum_cells(rows)],
    )
    session.flush()
    audit(session, actor, "spend.imported", record, organization_id=organization_id, lines=len(rows), sha=record.sha256)
    return record


def import_notes(record: SpendImport) -> list[Message]:
    try:
        items = json.loads(record.notes or "[]")
    except ValueError:
        return []
    return [Message(item.get("row"), None, item["message"], item.get("params") or {}) for item in items]


def visible_imports(session: Session, actor) -> list[SpendImport]:
    scope = reader_scope(session, actor, None)
    stmt = sa.select(SpendImport).order_by(SpendImport.imported_at.desc(), SpendImport.id.desc())
    if scope is not None:
        stmt = stmt.where(SpendImport.organization_id.in_(scope))
    return list(session.scalars(stmt))


def rollback_import(session: Session, actor, import_id: int) -> SpendImport:
    """An admin removes every line of an import; the import stays listed as rolled back."""
    require_role(actor, ADMINS, _l("Only administrators roll imports back."))
    record = session.get(SpendImport, import_id)
    if record is None:
        raise NotFound(str(_l("This import does not exist.")))
    if record.rolled_back_at is not None:
        raise Conflict("already_rolled_back", str(_l("This import was already rolled back.")))
    session.execute(sa.delete(SpendCell).where(SpendCell.import_id == record.id))
    session.execute(sa.delete(SpendLine).where(SpendLine.import_id == record.id))
    record.rolled_back_at = utcnow()
    record.rolled_back_by_id = actor.id
    record.active_sha256 = None
    session.flush()
    audit(session, actor, "spend.rolled_back", record, organization_id=record.organization_id)
    return record
