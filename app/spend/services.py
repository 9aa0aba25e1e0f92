"""The spend map and its impact figures.

Buyers read and import their own organization's spend; coordinators and admins read every organization's and
import for any; suppliers see none. Imports are all or nothing and recorded with the file's SHA-256 per
organization, so the same file is never counted twice; an admin may roll an import back as a whole.

Every figure is computed from the `spend_cell` aggregates (one row per organization × year × CPV category ×
supplier, written at import time) read straight from the database cursor into pandas; only the drill-down to the
lines reads `spend_line`, one page at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.domain import impact
from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH
from app.domain.spend_import import FORMATS, parse_spend
from app.domain.tabular import Message
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.needs.models import Need
from app.organizations.models import Organization, SupplierCompany
from app.reference.models import CpvCode
from app.spend.models import EmissionMapping, SpendCell, SpendImport, SpendLine

READER_ROLES = ("buyer", "coordinator", "admin", "system")
ALL_READERS = ("coordinator", "admin", "system")
LEVELS = OVERLAP_LEVELS  # division, group, class, category
CELL_PREFIX = PREFIX_LENGTH["category"]
FINGERPRINT_BATCH = 500
PARIS = ZoneInfo("Europe/Paris")


def paris_today() -> date:
    return datetime.now(PARIS).date()


# --- who may see what ----------------------------------------------------------------------------------------


def check_reader(actor) -> None:
    if actor.role not in READER_ROLES:
        raise NotPermitted(str(_l("Spend is for buyers and coordinators; suppliers do not see it.")))


def _scope(session: Session, actor, organization: str | None) -> list[int] | None:
    """The organization ids the actor reads (None: all). A buyer naming another organization is refused."""
    check_reader(actor)
    wanted = None
    if organization:
        wanted = session.scalar(sa.select(Organization.id).where(Organization.code == organization.strip().upper()))
        if wanted is None:
            raise ValidationFailed({"organization": [str(_l("Unknown organization code."))]})
    if actor.role == "buyer":
        if wanted is not None and wanted != actor.organization_id:
            raise NotPermitted(str(_l("Buyers see their own organization's spend only.")))
        return [actor.organization_id]
    return None if wanted is None else [wanted]


# --- import --------------------------------------------------------------------------------------------------


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


def _row_details(messages: Iterable[Message]) -> list[dict]:
    return [
        {"row": m.row, "column": m.column, "message": _l(m.message, **m.params)}
        for m in sorted(messages, key=lambda m: (m.row or 0, m.column or ""))
    ]


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
    if actor.role not in ("coordinator", "admin", "system"):
        raise NotPermitted(str(_l("Only buyers, coordinators and admins import spend.")))
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
    for start in range(0, len(fingerprints), FINGERPRINT_BATCH):
        batch = fingerprints[start : start + FINGERPRINT_BATCH]
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
    if result.errors:
        raise ValidationFailed(
            {},
            message=str(_l("The file has errors: nothing was imported. Fix the rows listed and import it again.")),
            rows=_row_details(result.errors),
        )
    if not result.rows:
        raise ValidationFailed({"file": [str(_l("The file has no rows to import."))]})
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


def _cells(rows: list[dict]) -> list[dict]:
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
    try:
        session.flush()
    except IntegrityError:  # the same file, imported meanwhile by another request
        session.rollback()
        raise Conflict("duplicate_import", str(_l("This file was already imported for this organization."))) from None
    organization_id = preview.organization.id
    session.execute(
        sa.insert(SpendLine),
        [{"import_id": record.id, "organization_id": organization_id, **{f: r[f] for f in _LINE_FIELDS}} for r in rows],
    )
    session.execute(
        sa.insert(SpendCell),
        [{"import_id": record.id, "organization_id": organization_id, **cell} for cell in _cells(rows)],
    )
    session.flush()
    return record


def import_notes(record: SpendImport) -> list[Message]:
    try:
        items = json.loads(record.notes or "[]")
    except ValueError:
        return []
    return [Message(item.get("row"), None, item["message"], item.get("params") or {}) for item in items]


def visible_imports(session: Session, actor) -> list[SpendImport]:
    scope = _scope(session, actor, None)
    stmt = sa.select(SpendImport).order_by(SpendImport.imported_at.desc(), SpendImport.id.desc())
    if scope is not None:
        stmt = stmt.where(SpendImport.organization_id.in_(scope))
    return list(session.scalars(stmt))


def rollback_import(session: Session, actor, import_id: int) -> SpendImport:
    """An admin removes every line of an import; the import stays listed as rolled back."""
    if actor.role not in ("admin", "system"):
        raise NotPermitted(str(_l("Only administrators roll imports back.")))
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
    return record


# --- the cube ------------------------------------------------------------------------------------------------

CELL_COLUMNS = ["organization_id", "year", "cpv_prefix", "supplier_key", "cents", "lines"]
LOCATION_COLUMNS = ["supplier_postcode", "supplier_city"]


def _fetch(session: Session, stmt) -> list[tuple]:
    """Plain tuples straight from the DB-API cursor (no ORM rows: they cost more than the whole computation).
    Only integers reach the SQL as literals (ids and years resolved beforehand)."""
    connection = session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled))
        return cursor.fetchall()
    finally:
        cursor.close()


def organization_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(sa.select(Organization.id, Organization.code)).all())


def cells_frame(
    session: Session, scope: list[int] | None, year: int | None = None, *, location: bool = False
) -> pd.DataFrame:
    """The spend cells in scope (GROUP BY at import time; nothing here loops over rows), amounts in cents.
    `location` adds the suppliers' postcode and city columns (only the local share needs them)."""
    columns = [
        SpendCell.organization_id,
        SpendCell.year,
        SpendCell.cpv_prefix,
        SpendCell.supplier_key,
        sa.cast(sa.func.round(SpendCell.amount * 100), sa.BigInteger).label("cents"),
        SpendCell.lines,
    ]
    if location:
        columns += [SpendCell.supplier_postcode, SpendCell.supplier_city]
    stmt = sa.select(*columns)
    if scope is not None:
        stmt = stmt.where(SpendCell.organization_id.in_([int(i) for i in scope]))
    if year is not None:
        stmt = stmt.where(SpendCell.year == int(year))
    frame = pd.DataFrame(_fetch(session, stmt), columns=CELL_COLUMNS + (LOCATION_COLUMNS if location else []))
    frame["cents"] = frame["cents"].astype("int64")
    frame["lines"] = frame["lines"].astype("int64")
    frame["organization"] = frame["organization_id"].map(organization_codes(session)).astype("object")
    return frame


def _euros(cents) -> Decimal:
    return Decimal(int(cents)) / 100


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValidationFailed({"level": [str(_l("The level is division, group, class or category."))]})
    return level


def _check_year(year) -> int | None:
    if year in (None, ""):
        return None
    if not isinstance(year, int) or not 1990 <= year <= 2200:
        raise ValidationFailed({"year": [str(_l("The year has four digits, for example 2025."))]})
    return year


def cpv_labels(session: Session, prefixes: Iterable[str], lang: str) -> dict[str, str]:
    codes = {p: p.ljust(8, "0") for p in prefixes}
    if not codes:
        return {}
    column = CpvCode.label_en if lang == "en" else CpvCode.label_fr
    found = dict(session.execute(sa.select(CpvCode.code, column).where(CpvCode.code.in_(set(codes.values())))).all())
    return {prefix: found.get(code, "") for prefix, code in codes.items()}


@dataclass(frozen=True)
class CubeItem:
    cpv_prefix: str
    label: str
    organization: str
    year: int
    amount: Decimal
    lines: int
    suppliers: int


def _grouped(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """cents, lines and distinct known suppliers per group (vectorised)."""
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "cents", "lines", "suppliers"])
    sums = frame.groupby(keys, sort=True)[["cents", "lines"]].sum()
    known = frame.loc[frame["supplier_key"] != ""]
    suppliers = known.groupby(keys)["supplier_key"].nunique() if not known.empty else pd.Series(dtype="int64")
    sums["suppliers"] = suppliers.reindex(sums.index).fillna(0).astype("int64")
    return sums.reset_index()


def spend_cube(
    session: Session, actor, *, level: str = "division", organization: str | None = None, year=None, lang: str = "fr"
) -> list[CubeItem]:
    """Organizations × CPV prefix at `level` × year: amount, lines and distinct suppliers."""
    level = _check_level(level)
    year = _check_year(year)
    scope = _scope(session, actor, organization)
    frame = cells_frame(session, scope, year)
    frame["prefix"] = frame["cpv_prefix"].str[: PREFIX_LENGTH[level]]
    grouped = _grouped(frame, ["prefix", "organization", "year"])
    labels = cpv_labels(session, grouped["prefix"].unique(), lang)
    columns = [grouped[c].tolist() for c in ("prefix", "organization", "year", "cents", "lines", "suppliers")]
    return [
        CubeItem(prefix, labels.get(prefix, ""), org, int(yr), _euros(cents), int(lines), int(sups))
        for prefix, org, yr, cents, lines, sups in zip(*columns, strict=True)
    ]


# --- the category map ----------------------------------------------------------------------------------------


@dataclass
class CategoryRow:
    prefix: str
    label: str
    amount: Decimal
    lines: int
    suppliers: int
    organizations: tuple[str, ...]
    per_organization: dict[str, Decimal]
    needs_annual: Decimal  # submitted needs' yearly amounts (future), same prefix
    top_supplier: str | None
    top_share: float | None
    hhi: int | None
    savings_low: Decimal | None = None
    savings_high: Decimal | None = None
    savings_assumption: impact.SavingsAssumption | None = None

    @property
    def shared(self) -> bool:
        return len(self.organizations) >= 2


@dataclass
class SpendMap:
    level: str
    year: int | None
    parent: str | None
    organizations: list[str]
    years: list[int]
    rows: list[CategoryRow]
    total: Decimal
    lines: int
    suppliers: int
    pooling_potential: Decimal  # spend in categories where two organizations or more spend
    pooling_categories: int
    by_year: dict[int, dict[str, Decimal]]  # past spend: year -> organization -> euros
    needs_by_year: dict[int, dict[str, Decimal]]  # future needs: start year -> organization -> yearly euros
    heatmap: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # prefix -> organization -> euros
    supplier_names: dict[str, str] = field(default_factory=dict)


def _needs_frame(session: Session, scope: list[int] | None) -> pd.DataFrame:
    """Submitted needs as (organization, start year, cpv_code, annual cents), one aggregate query."""
    stmt = sa.select(
        Need.organization_id,
        Need.start_date,
        Need.cpv_code,
        sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger),
    ).where(Need.status == "submitted")
    if scope is not None:
        stmt = stmt.where(Need.organization_id.in_([int(i) for i in scope]))
    rows = _fetch(session, stmt)
    frame = pd.DataFrame(rows, columns=["organization_id", "start_date", "cpv_code", "cents"])
    frame = frame.assign(
        year=pd.to_datetime(frame["start_date"]).dt.year.astype("int64") if len(frame) else pd.Series(dtype="int64"),
        cents=frame["cents"].astype("int64"),
        organization=frame["organization_id"].map(organization_codes(session)).astype("object"),
    )
    return frame


def _supplier_names(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """Display names of supplier keys: a registered company's name for a SIRET, else the key itself."""
    sirets = [k for k in set(keys) if k and k.isdigit() and len(k) == 14]
    names = {}
    for start in range(0, len(sirets), FINGERPRINT_BATCH):
        batch = sirets[start : start + FINGERPRINT_BATCH]
        query = sa.select(SupplierCompany.siret, SupplierCompany.name).where(SupplierCompany.siret.in_(batch))
        names.update((siret, name) for siret, name in session.execute(query))
    return names


def child_level(level: str) -> str | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def level_of_prefix(prefix: str) -> str:
    for level in LEVELS:
        if PREFIX_LENGTH[level] == len(prefix):
            return level
    raise ValidationFailed({"prefix": [str(_l("A CPV prefix has 2 to 5 digits."))]})


def _check_prefix(prefix: str | None) -> str | None:
    if not prefix:
        return None
    if not prefix.isdigit() or not 2 <= len(prefix) <= 5:
        raise ValidationFailed({"prefix": [str(_l("A CPV prefix has 2 to 5 digits."))]})
    return prefix


def spend_map(
    session: Session,
    actor,
    *,
    level: str = "division",
    organization: str | None = None,
    year=None,
    parent: str | None = None,
    lang: str = "fr",
    assumptions: impact.SavingsAssumptions | None = None,
) -> SpendMap:
    """The category map at one level (optionally below a parent prefix): spend per category with its
    organizations, suppliers and concentration, the pooling potential, and the submitted needs beside it."""
    level = _check_level(level)
    year = _check_year(year)
    parent = _check_prefix(parent)
    if parent and len(parent) > PREFIX_LENGTH[level]:
        raise ValidationFailed({"level": [str(_l("Choose a level below the prefix opened."))]})
    scope = _scope(session, actor, organization)
    assumptions = assumptions or savings_assumptions()
    frame = cells_frame(session, scope)
    years = sorted(int(y) for y in frame["year"].unique())
    by_year_frame = frame if parent is None else frame.loc[frame["cpv_prefix"].str.startswith(parent)]
    by_year = _pivot(by_year_frame, "year")
    if year is not None:
        frame = frame.loc[frame["year"] == year]
    if parent:
        frame = frame.loc[frame["cpv_prefix"].str.startswith(parent)]
    length = PREFIX_LENGTH[level]
    frame = frame.assign(prefix=frame["cpv_prefix"].str[:length])

    needs = _needs_frame(session, scope)
    if parent:
        needs = needs.loc[needs["cpv_code"].str.startswith(parent)]
    needs_by_year = _pivot(needs, "year")
    needs_in_year = needs if year is None else needs.loc[needs["year"] == year]
    needs_per_prefix = needs_in_year.groupby(needs_in_year["cpv_code"].str[:length])["cents"].sum()

    per_prefix = _grouped(frame, ["prefix"]).set_index("prefix") if not frame.empty else None
    per_org = frame.groupby(["prefix", "organization"])["cents"].sum() if not frame.empty else pd.Series(dtype="int64")
    conc = impact.concentration(frame[["prefix", "supplier_key", "cents"]]) if not frame.empty else None
    prefixes = sorted(set(per_prefix.index if per_prefix is not None else []) | set(needs_per_prefix.index))
    labels = cpv_labels(session, prefixes, lang)

    orgs_of: dict[str, dict[str, Decimal]] = {}
    for (prefix, org), cents in per_org.items():
        orgs_of.setdefault(prefix, {})[org] = _euros(cents)
    spend_of = per_prefix.to_dict("index") if per_prefix is not None else {}
    concentration_of = conc.to_dict("index") if conc is not None else {}
    needs_of = needs_per_prefix.to_dict()
    rows = []
    for prefix in prefixes:
        spend = spend_of.get(prefix, {"cents": 0, "lines": 0, "suppliers": 0})
        concentration_row = concentration_of.get(prefix)
        organizations = tuple(sorted(orgs_of.get(prefix, {})))
        row = CategoryRow(
            prefix=prefix,
            label=labels.get(prefix, ""),
            amount=_euros(spend["cents"]),
            lines=int(spend["lines"]),
            suppliers=int(spend["suppliers"]),
            organizations=organizations,
            per_organization=orgs_of.get(prefix, {}),
            needs_annual=_euros(needs_of.get(prefix, 0)),
            top_supplier=None if concentration_row is None else str(concentration_row["top_supplier"]),
            top_share=None if concentration_row is None else float(concentration_row["top_share"]),
            hhi=None if concentration_row is None else int(concentration_row["hhi"]),
        )
        if row.shared:
            row.savings_low, row.savings_high, row.savings_assumption = impact.savings_range(
                row.amount / max(len(years), 1) if year is None else row.amount, prefix, assumptions
            )
        rows.append(row)
    rows.sort(key=lambda r: (-r.amount, -r.needs_annual, r.prefix))
    shared = [r for r in rows if r.shared]
    heat = {r.prefix: r.per_organization for r in rows if r.amount}
    known = frame.loc[frame["supplier_key"] != "", "supplier_key"]
    return SpendMap(
        level=level,
        year=year,
        parent=parent,
        organizations=sorted(set(frame["organization"].dropna()) | set(needs["organization"].dropna())),
        years=years,
        rows=rows,
        total=_euros(frame["cents"].sum()),
        lines=int(frame["lines"].sum()),
        suppliers=int(known.nunique()),
        pooling_potential=sum((r.amount for r in shared), Decimal(0)),
        pooling_categories=len(shared),
        by_year=by_year,
        needs_by_year=needs_by_year,
        heatmap=heat,
        supplier_names=_supplier_names(session, [r.top_supplier for r in rows if r.top_supplier]),
    )


def _pivot(frame: pd.DataFrame, column: str) -> dict[int, dict[str, Decimal]]:
    if frame.empty:
        return {}
    sums = frame.groupby([column, "organization"])["cents"].sum()
    result: dict[int, dict[str, Decimal]] = {}
    for (key, org), cents in sums.items():
        result.setdefault(int(key), {})[org] = _euros(cents)
    return dict(sorted(result.items()))


# --- the lines -----------------------------------------------------------------------------------------------


def lines_query(session: Session, actor, *, prefix: str, organization: str | None = None, year=None) -> sa.Select:
    """The spend lines below a CPV prefix, in the actor's scope, largest first (for a paginated drill-down)."""
    prefix = _check_prefix(prefix)
    year = _check_year(year)
    scope = _scope(session, actor, organization)
    stmt = sa.select(SpendLine).where(SpendLine.cpv_code.startswith(prefix))
    if scope is not None:
        stmt = stmt.where(SpendLine.organization_id.in_(scope))
    if year is not None:
        stmt = stmt.where(SpendLine.year == year)
    return stmt.order_by(SpendLine.amount.desc(), SpendLine.id)


# --- impact --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def metropole_area() -> impact.MetropoleArea:
    return impact.load_metropole()


@lru_cache(maxsize=1)
def emission_factors() -> dict[str, impact.EmissionFactor]:
    return impact.load_emission_factors()


@lru_cache(maxsize=1)
def savings_assumptions() -> impact.SavingsAssumptions:
    return impact.load_savings_assumptions()


@dataclass
class LocalShareReport:
    overall: impact.LocalShare
    per_organization: dict[str, impact.LocalShare]
    year: int | None


def _located(session: Session, frame: pd.DataFrame) -> pd.DataFrame:
    """Each cell's location: its own postcode (from the file), else the supplier registry's by SIRET."""
    registry = pd.DataFrame(
        session.execute(sa.select(SupplierCompany.siret, SupplierCompany.postcode, SupplierCompany.city)).all(),
        columns=["supplier_key", "registry_postcode", "registry_city"],
    )
    located = frame.merge(registry, on="supplier_key", how="left")
    from_file = located["supplier_postcode"].notna() & (located["supplier_postcode"] != "")
    located["postcode"] = located["supplier_postcode"].where(from_file, located["registry_postcode"])
    located["city"] = located["supplier_city"].where(from_file, located["registry_city"])
    located["bucket"] = impact.classify_locations(located["postcode"], located["city"], metropole_area())
    return located


def local_share_report(session: Session, actor, *, organization: str | None = None, year=None) -> LocalShareReport:
    year = _check_year(year)
    frame = _located(session, cells_frame(session, _scope(session, actor, organization), year, location=True))
    per_org = {org: impact.local_share(group["bucket"], group["cents"]) for org, group in frame.groupby("organization")}
    return LocalShareReport(impact.local_share(frame["bucket"], frame["cents"]), per_org, year)


@dataclass(frozen=True)
class MappingRow:
    division: str
    category_key: str | None
    note: str
    updated_at: object = None
    changed: bool = False  # differs from the shipped default


def emission_mapping(session: Session) -> dict[str, MappingRow]:
    """division -> category: the database rows (seeded by the migration, edited by admins) over the shipped
    defaults, so that a division missing from the table still has the documented default."""
    defaults = impact.load_default_mapping()
    result = {d: MappingRow(d, key, note) for d, (key, note) in defaults.items()}
    for row in session.scalars(sa.select(EmissionMapping)):
        default = defaults.get(row.division, (None, ""))
        result[row.division] = MappingRow(
            row.division, row.category_key, row.note, row.updated_at, row.category_key != default[0]
        )
    return dict(sorted(result.items()))


def carbon_report(session: Session, actor, *, organization: str | None = None, year=None) -> impact.CarbonEstimate:
    year = _check_year(year)
    frame = cells_frame(session, _scope(session, actor, organization), year)
    by_division = frame.groupby(frame["cpv_prefix"].str[:2])["cents"].sum()
    amounts = {division: _euros(cents) for division, cents in by_division.items()}
    mapping = {division: m.category_key for division, m in emission_mapping(session).items()}
    return impact.carbon_estimate(amounts, mapping, emission_factors())


def update_emission_mapping(
    session: Session, actor, division: str, category_key: str | None, note: str
) -> EmissionMapping:
    """An admin changes the emission category standing for a CPV division (empty: not estimated)."""
    if actor.role not in ("admin", "system"):
        raise NotPermitted(str(_l("Only administrators change the emission mapping.")))
    defaults = impact.load_default_mapping()
    if division not in defaults:
        raise NotFound(str(_l("Unknown CPV division.")))
    key = (category_key or "").strip() or None
    if key is not None and key not in emission_factors():
        raise ValidationFailed({"category_key": [str(_l("Unknown emission category."))]})
    note = (note or "").strip()
    if len(note) > 1000:
        raise ValidationFailed({"note": [str(_l("At most %(n)d characters.", n=1000))]})
    mapping = session.get(EmissionMapping, division)
    if mapping is None:
        mapping = EmissionMapping(division=division)
        session.add(mapping)
    mapping.category_key = key
    mapping.note = note
    mapping.updated_at = utcnow()
    mapping.updated_by_id = actor.id
    session.flush()
    return mapping


@dataclass(frozen=True)
class OverlapSavings:
    cpv_prefix: str
    label: str
    organizations: tuple[str, ...]
    total_amount: Decimal
    low: Decimal
    high: Decimal
    assumption: impact.SavingsAssumption


def overlap_savings(
    session: Session, actor, *, level: str = "class", today: date, lang: str = "fr"
) -> list[OverlapSavings]:
    """Savings ranges for the current overlaps of submitted needs (the overlap map's own computation)."""
    from app.overlaps.services import OverlapQuery, overlap_report

    check_reader(actor)
    report = overlap_report(session, actor, OverlapQuery(level=level), today=today, lang=lang, detail=False)
    assumptions = savings_assumptions()
    result = []
    for overlap in report.overlaps:
        low, high, assumption = impact.savings_range(overlap.total_amount, overlap.cpv_prefix, assumptions)
        result.append(
            OverlapSavings(
                overlap.cpv_prefix,
                overlap.label,
                tuple(overlap.organizations),
                overlap.total_amount,
                low,
                high,
                assumption,
            )
        )
    result.sort(key=lambda s: (-s.total_amount, s.cpv_prefix))
    return result
