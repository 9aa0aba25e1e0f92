"""Spend imports: all or nothing, recorded with the file's SHA-256 per organization so the same file is never counted
twice; lines already imported from another file are skipped; an admin may roll an import back as a whole."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.actors import ADMINS, SEE_ALL, require_role
from app.audit.services import record as audit
from app.clock import utcnow
from app.db import random_id, random_ids
from app.domain.spend_import import (
    CHUNK_ROWS,
    FORMATS,
    LINE_COLUMNS,
    MAX_ROWS,
    Quarantined,
    parse_spend,
    stream_spend,
)
from app.domain.tabular import Message
from app.domain.text import N_
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.organizations.models import Organization
from app.reference.models import CpvCode
from app.spend.models import SpendCell, SpendImport, SpendLine, SpendQuarantine
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


def _number_twins(rows: list[dict], seen: dict[str, int]) -> None:
    """Give each row its occurrence: how many rows with its fingerprint came before it in the same file."""
    for row in rows:
        digest = row["fingerprint"]
        row["occurrence"] = seen.get(digest, 0)
        seen[digest] = row["occurrence"] + 1


def _known_lines(session: Session, organization_id: int, fingerprints: list[str]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for start in range(0, len(fingerprints), IN_BATCH):
        batch = fingerprints[start : start + IN_BATCH]
        found.update(
            (digest, occurrence)
            for digest, occurrence in session.execute(
                sa.select(SpendLine.fingerprint, SpendLine.occurrence).where(
                    SpendLine.organization_id == organization_id, SpendLine.fingerprint.in_(batch)
                )
            )
        )
    return found


def _skipped_note(count: int) -> Message:
    return Message(
        None,
        None,
        N_(
            "%(count)s line(s) of this file were already imported from another file for this organization: "
            "they are skipped so that nothing is counted twice."
        ),
        {"count": count},
    )


def _own_records_only(actor) -> bool:
    """DECP files may hold other buyers' records (the national consolidated files). A buyer imports its own
    organization's records only (the others are quarantined as another buyer's); a coordinator or an
    administrator names the organization and may load the records of a buyer it stands for (a metropole loading
    its city's records), with a warning naming that buyer."""
    return actor.role == "buyer"


def _quarantine_note(valid: int, quarantined: int) -> Message:
    return Message(
        None,
        None,
        N_(
            "Open data is imported leniently: %(valid)s record(s) are valid, %(count)s are quarantined (listed with "
            "their row, field and reason on the import's page), %(total)s records in the file."
        ),
        {"valid": valid, "count": quarantined, "total": valid + quarantined},
    )


def _all_quarantined(first: Quarantined, count: int) -> ValidationFailed:
    problem = first.problems[0]
    return ValidationFailed(
        {
            "file": [
                str(
                    _l(
                        "No record of this file can be imported: its %(count)s record(s) would all be quarantined. "
                        "First at row %(row)s: %(reason)s",
                        count=count,
                        row=first.row,
                        reason=_l(problem.message, **problem.params),
                    )
                )
            ]
        }
    )


def check_format(fmt: str | None) -> None:
    """A requested format is one the import reads (None: detected from the file's content)."""
    if fmt is not None and fmt not in FORMATS:
        raise ValidationFailed({"format": [str(_l("The format is csv, xlsx or decp."))]})


def _import_target(session: Session, actor, organization, fmt: str | None, sha256: str) -> tuple:
    """The organization a file is imported for (checked against the actor), once the format is known and no active
    import holds the same file; with the CPV check digits the rows are checked against."""
    organization = _import_organization(session, actor, organization)
    check_format(fmt)
    existing = _active_import_with(session, organization.id, sha256)
    if existing is not None:
        raise _duplicate(existing)
    return organization, dict(session.execute(sa.select(CpvCode.code, CpvCode.check_digit)).all())


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
    sha256 = hashlib.sha256(data).hexdigest()
    organization, check_digits = _import_target(session, actor, organization, fmt, sha256)
    result = parse_spend(
        data,
        filename,
        known_cpv=check_digits.get,
        requested_format=fmt,
        buyer_siret=organization.siret,
        own_only=_own_records_only(actor),
    )
    _check_row_limit(len(result.rows) + len({m.row for m in result.errors}) + len(result.quarantined), MAX_ROWS)
    if not result.rows and result.quarantined:
        raise _all_quarantined(result.quarantined[0], len(result.quarantined))
    refuse_bad_rows(result.errors, result.rows)
    _number_twins(result.rows, {})
    known = _known_lines(session, organization.id, sorted({r["fingerprint"] for r in result.rows}))
    new_rows = [r for r in result.rows if (r["fingerprint"], r["occurrence"]) not in known]
    notes = list(result.notes)
    if len(new_rows) < len(result.rows):
        notes.append(_skipped_note(len(result.rows) - len(new_rows)))
    if result.quarantined:
        notes.append(_quarantine_note(len(result.rows), len(result.quarantined)))
    return SpendPreview(
        organization=organization,
        format=result.format,
        sha256=sha256,
        rows=result.rows,
        new_rows=new_rows,
        notes=notes,
        sheet=result.sheet,
    )


WRITE_BATCH = 5_000  # rows per INSERT statement of a slice

# The values written of each line: the columnar slice's columns but the file's row number.
_LINE_FIELDS = tuple(name for name in LINE_COLUMNS if name != "row")


def supplier_key(siret: str | None, name: str | None) -> str:
    return siret or (name or "").strip().upper()[:200]


def _cells_query(import_id: int):
    """The cells of an import from its lines, in one GROUP BY (the supplier key as `supplier_key` computes it)."""
    key = sa.func.coalesce(
        SpendLine.supplier_siret, sa.func.upper(sa.func.trim(sa.func.coalesce(SpendLine.supplier_name, "")))
    )
    key = sa.func.substr(key, 1, 200)
    prefix = sa.func.substr(SpendLine.cpv_code, 1, CELL_PREFIX)
    return (
        sa.select(
            SpendLine.year,
            prefix.label("cpv_prefix"),
            key.label("supplier_key"),
            SpendLine.supplier_postcode,
            SpendLine.supplier_city,
            sa.func.sum(SpendLine.amount).label("amount"),
            sa.func.count().label("lines"),
        )
        .where(SpendLine.import_id == import_id)
        .group_by(SpendLine.year, prefix, key, SpendLine.supplier_postcode, SpendLine.supplier_city)
    )


_WRITTEN = ("id", "import_id", "organization_id", "occurrence", *_LINE_FIELDS)
_UNIQUE_LINE = "organization_id, fingerprint, occurrence"


def _occurrences(fingerprints: pd.Series, seen: dict[str, int]) -> np.ndarray:
    """Each line's occurrence (how many lines with its fingerprint came before it in the file), counted on the
    whole slice; `seen` carries the counts from one slice to the next."""
    # dict.get per line: Series.map(dict) would copy the whole counter (a key per line of the file so far) each slice
    before = np.fromiter((seen.get(digest, 0) for digest in fingerprints.tolist()), np.int64, len(fingerprints))
    occurrence = before + fingerprints.groupby(fingerprints, sort=False).cumcount().to_numpy(dtype=np.int64)
    for digest, count in fingerprints.value_counts(sort=False).items():
        seen[digest] = seen.get(digest, 0) + count
    return occurrence


def _insert_lines(session: Session, lines: pd.DataFrame, import_id: int, organization_id: int) -> int:
    """Write a slice of lines (a `lines_frame` with its `occurrence`); those already imported (same organization,
    fingerprint, occurrence) are skipped by the unique index (ON CONFLICT DO NOTHING), never looked up one by one.
    How many were written (the driver's count of the rows the statement inserted).

    The slice goes to the driver column by column: PostgreSQL COPYs it into a temporary table and moves it with
    one INSERT ... SELECT; SQLite takes one prepared INSERT for all its rows (dates as ISO text, amounts as decimal
    text, as SQLAlchemy's types write them there)."""
    count = len(lines)
    columns = [
        # Ascending ids (random, but handed out in order): SQLite's table and its import and CPV indexes then grow
        # at a few places instead of everywhere, which keeps their pages in the cache.
        sorted(random_ids(count)),
        itertools.repeat(import_id, count),
        itertools.repeat(organization_id, count),
        lines["occurrence"].tolist(),
        *(lines[name].tolist() for name in _LINE_FIELDS),
    ]
    connection = session.connection()
    names = ", ".join(_WRITTEN)
    if connection.dialect.name == "postgresql":
        _ensure_load_table(connection)
        _copy_rows(connection, "spend_line_load", _WRITTEN, zip(*columns, strict=True))
        inserted = connection.exec_driver_sql(
            f"INSERT INTO spend_line ({names}) SELECT {names} FROM spend_line_load "  # noqa: S608 - fixed names
            f"ON CONFLICT ({_UNIQUE_LINE}) DO NOTHING"
        ).rowcount
        connection.exec_driver_sql("TRUNCATE spend_line_load")
        return inserted
    marks = ", ".join("?" for _ in _WRITTEN)
    return connection.exec_driver_sql(
        f"INSERT INTO spend_line ({names}) VALUES ({marks}) ON CONFLICT ({_UNIQUE_LINE}) DO NOTHING",  # noqa: S608
        list(zip(*columns, strict=True)),
    ).rowcount


def _copy_rows(connection, table: str, columns: tuple[str, ...], rows) -> None:
    """PostgreSQL: COPY rows (tuples) into a table, through the driver's own cursor."""
    cursor = connection.connection.cursor()
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # noqa: S608 - fixed names
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


_CELL_COLUMNS = (
    "id",
    "import_id",
    "organization_id",
    "year",
    "cpv_prefix",
    "supplier_key",
    "supplier_postcode",
    "supplier_city",
    "amount",
    "lines",
)


_CELL_KEYS = ["year", "cpv_prefix", "supplier_key", "supplier_postcode", "supplier_city"]
_SLICE_KEYS = [*_CELL_KEYS, "supplier_upper"]  # the supplier key of a line without SIRET: its name, not upper-cased yet
PARTS_KEPT = 8  # slices' sums kept apart before they are summed into one


class SliceCells:
    """The cells of an import summed from its slices while they are written, the way `_cells_query` sums its stored
    lines (the supplier key upper-cased by the database's own upper(), asked for the non-ASCII names), with the
    import's line count, total and dates: when the database wrote every valid line (none skipped as already
    imported), the import's stored lines are exactly these slices, and the GROUP BY over them is not needed."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []
        self.count = 0
        self.cents = 0
        self.first: str | None = None
        self.last: str | None = None

    def add(self, lines: pd.DataFrame) -> None:
        cents = lines["amount"].str.replace(".", "", regex=False).astype("int64")  # two decimals, always
        names = lines["supplier_name"].fillna("").str.strip(" ")
        sirets = lines["supplier_siret"]
        frame = pd.DataFrame(
            {
                "year": lines["year"].astype("int64"),
                "cpv_prefix": lines["cpv_code"].str[:CELL_PREFIX],
                "supplier_key": sirets.where(sirets.notna(), names),  # upper-cased once per distinct key, at the end
                "supplier_upper": sirets.isna(),
                "supplier_postcode": lines["supplier_postcode"],
                "supplier_city": lines["supplier_city"],
                "cents": cents,
            }
        )
        self.parts.append(
            frame.groupby(_SLICE_KEYS, dropna=False, sort=False, as_index=False)["cents"].agg(["sum", "size"])
        )
        if len(self.parts) > PARTS_KEPT:  # bounded by the cells, not by the slices: a file of any length
            merged = pd.concat(self.parts, ignore_index=True)
            self.parts = [merged.groupby(_SLICE_KEYS, dropna=False, sort=False, as_index=False)[["sum", "size"]].sum()]
        self.count += len(lines)
        self.cents += int(cents.sum())
        dates = lines["spend_date"]
        first, last = dates.min(), dates.max()
        self.first = first if self.first is None else min(first, self.first)
        self.last = last if self.last is None else max(last, self.last)

    def cells(self, connection) -> list[tuple]:
        """(year, cpv_prefix, supplier_key, supplier_postcode, supplier_city, amount as decimal text, lines)."""
        if not self.parts:
            return []
        frame = pd.concat(self.parts, ignore_index=True)
        named = frame["supplier_upper"].to_numpy(dtype=bool)
        keys = frame["supplier_key"].to_numpy(dtype=object)
        upper = _database_upper(connection, {key for key in keys[named].tolist() if not key.isascii()})
        keys[named] = [upper.get(key) or key.upper() for key in keys[named].tolist()]
        frame["supplier_key"] = pd.Series(keys, dtype=object).str[:200]
        sums = frame.groupby(_CELL_KEYS, dropna=False, sort=False)[["sum", "size"]].sum()
        rows = []
        for (year, prefix, key, postcode, city), cents, lines in zip(
            sums.index.tolist(), sums["sum"].tolist(), sums["size"].tolist(), strict=True
        ):
            amount = f"{cents // 100}.{cents % 100:02d}"
            rows.append((int(year), prefix, key, _none(postcode), _none(city), amount, int(lines)))
        return rows


def _none(value):
    """A group key pandas gives back as NaN for a NULL column: None."""
    return None if value is None or value != value else value


def _database_upper(connection, texts: set[str]) -> dict[str, str]:
    """The database's upper() of texts (SQLite's knows ASCII letters only, PostgreSQL's follows its locale), a few
    hundred per statement."""
    found: dict[str, str] = {}
    ordered = sorted(texts)
    for start in range(0, len(ordered), IN_BATCH):
        batch = ordered[start : start + IN_BATCH]
        selects = [
            sa.select(sa.literal(text, sa.Text).label("text"), sa.func.upper(sa.literal(text, sa.Text)))
            for text in batch
        ]
        found.update((text, upper) for text, upper in connection.execute(sa.union_all(*selects)))
    return found


def _write_cells(session: Session, import_id: int, organization_id: int, sums: list[tuple] | None = None) -> None:
    """The import's cells, written in one statement (SQLite) or one COPY: `sums` when given (`SliceCells.cells`), else
    summed from the stored lines in one GROUP BY."""
    connection = session.connection()
    if sums is None:
        # Core rows: no ORM loading of 10⁴-10⁵ tuples
        sums = [(*cell[:5], str(cell.amount), cell.lines) for cell in connection.execute(_cells_query(import_id))]
    if not sums:
        return
    ids = random_ids(len(sums))
    if connection.dialect.name == "postgresql":
        rows = ((cell_id, import_id, organization_id, *cell) for cell_id, cell in zip(ids, sums, strict=True))
        _copy_rows(connection, "spend_cell", _CELL_COLUMNS, rows)
        return
    # SQLite binds no Decimal: the sums as decimal text, as SQLAlchemy's Numeric writes them there.
    marks = ", ".join("?" for _ in _CELL_COLUMNS)
    connection.exec_driver_sql(
        f"INSERT INTO spend_cell ({', '.join(_CELL_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed names
        [(cell_id, import_id, organization_id, *cell) for cell_id, cell in zip(ids, sums, strict=True)],
    )


def _ensure_load_table(connection) -> None:
    """A temporary table shaped like spend_line, private to this transaction (dropped at its end)."""
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS spend_line_load (LIKE spend_line INCLUDING DEFAULTS) ON COMMIT DROP"
    )


def _hash_source(source: bytes | str | Path) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    with open(source, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def import_spend(
    session: Session,
    actor,
    source: bytes | str | Path,
    filename: str,
    *,
    organization: Organization | str | None = None,
    fmt: str | None = None,
    is_synthetic: bool = False,
    progress: Callable[[int], None] | None = None,
    max_rows: int | None = MAX_ROWS,
    chunk_rows: int = CHUNK_ROWS,
) -> SpendImport:
    """All or nothing, memory bounded: the file (bytes, or a path for a file of any length) is read a slice at a
    time; each slice of a valid file is written at once, lines already imported skipped by the database; the first
    bad row stops the writing and the rest of the file is only checked, to report every problem, then the whole
    transaction is refused. The cells are summed from the lines in one GROUP BY. `progress(rows_read)` is told after
    each slice. `max_rows` bounds what a web or API upload may hold (None: no limit, for the command line)."""
    sha256 = _hash_source(source)
    organization, check_digits = _import_target(session, actor, organization, fmt, sha256)
    stream = stream_spend(
        source,
        filename,
        known_cpv=check_digits,
        requested_format=fmt,
        buyer_siret=organization.siret,
        own_only=_own_records_only(actor),
        chunk_rows=chunk_rows,
    )
    record = SpendImport(
        organization_id=organization.id,
        imported_by_id=actor.id,
        format=stream.format,
        filename=filename[-200:],
        sha256=sha256,
        active_sha256=sha256,
        is_synthetic=is_synthetic,
    )
    session.add(record)
    # The same file imported meanwhile by another request breaks the unique (organization, active_sha256): the
    # caller's transaction rolls back and app.actions runs the import again, which then finds that import.
    session.flush()
    twins: dict[str, int] = {}
    valid = quarantined = written = 0
    first_quarantined: Quarantined | None = None
    summed = SliceCells()
    for lines in stream.chunks:
        _check_row_limit(stream.rows_read, max_rows)
        valid += len(lines)
        if len(lines):
            lines["occurrence"] = _occurrences(lines["fingerprint"], twins)
            written += _insert_lines(session, lines, record.id, organization.id)
            summed.add(lines)
        del lines
        quarantined += _write_quarantine(session, record.id, stream.quarantined)
        first_quarantined = first_quarantined or next(iter(stream.quarantined), None)
        stream.quarantined.clear()
        if progress is not None:
            progress(stream.rows_read)
    del twins
    _check_row_limit(stream.rows_read, max_rows)
    if not valid and first_quarantined is not None and not stream.errors:
        raise _all_quarantined(first_quarantined, quarantined)
    if stream.more_errors:
        stream.errors.append(
            Message(
                None, None, N_("… and %(count)s more problem(s) further down the file."), {"count": stream.more_errors}
            )
        )
    refuse_bad_rows(stream.errors, [True] if valid else [])
    # Every valid line written (the drivers count what an INSERT ... ON CONFLICT DO NOTHING inserted): the stored
    # lines are the slices summed meanwhile. Else (lines skipped as already imported), from the stored lines.
    every_line = valid > 0 and written == valid == summed.count
    if every_line:
        count, total, first, last = valid, Decimal(summed.cents) / 100, summed.first, summed.last
    else:
        count, total, first, last = session.execute(
            sa.select(
                sa.func.count(),
                sa.func.sum(SpendLine.amount),
                sa.func.min(SpendLine.spend_date),
                sa.func.max(SpendLine.spend_date),
            ).where(SpendLine.import_id == record.id)
        ).one()
    if not count:
        raise Conflict(
            "duplicate_import",
            str(_l("Every line of this file was already imported for this organization: nothing to import.")),
        )
    notes = list(stream.notes)
    if count < valid:
        notes.append(_skipped_note(valid - count))
    if quarantined:
        notes.append(_quarantine_note(valid, quarantined))
    _write_cells(session, record.id, organization.id, summed.cells(session.connection()) if every_line else None)
    del summed
    record.format = stream.format
    record.line_count = count
    record.skipped_count = valid - count
    record.quarantined_count = quarantined
    record.total_amount = Decimal(total).quantize(Decimal("0.01"))
    record.first_date, record.last_date = _as_date(first), _as_date(last)
    record.notes = json.dumps([{"message": n.message, "params": n.params, "row": n.row} for n in notes])
    session.flush()
    audit(session, actor, "spend.imported", record, organization_id=organization.id, lines=count, sha=record.sha256)
    return record


def _write_quarantine(session: Session, import_id: int, records: list[Quarantined]) -> int:
    """Keep the records a lenient import left out, a slice at a time; how many."""
    values = [
        {
            "id": random_id(),
            "import_id": import_id,
            "row": item.row,
            "field": (item.field or "")[:40] or None,
            "problems": json.dumps(
                [{"column": m.column, "message": m.message, "params": m.params} for m in item.problems],
                default=str,
            ),
            "source_ref": item.source_ref,
            "buyer": item.buyer,
            "amount": item.amount,
        }
        for item in records
    ]
    for start in range(0, len(values), WRITE_BATCH):
        session.connection().execute(sa.insert(SpendQuarantine.__table__), values[start : start + WRITE_BATCH])
    return len(values)


def _check_row_limit(rows: int, max_rows: int | None) -> None:
    if max_rows is not None and rows > max_rows:
        raise ValidationFailed(
            {
                "file": [
                    str(
                        _l(
                            "The file has more than %(max)s data rows; split it into several files, or ask an "
                            "administrator to import it from the command line.",
                            max=f"{max_rows:,}".replace(",", "\u202f"),
                        )
                    )
                ]
            }
        )


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


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


def visible_import(session: Session, actor, import_id: int) -> SpendImport:
    """One import, for those who may see it (as `visible_imports`); NotFound otherwise, so that another
    organization's import is not told apart from a missing one."""
    scope = reader_scope(session, actor, None)
    record = session.get(SpendImport, import_id)
    if record is None or (scope is not None and record.organization_id not in scope):
        raise NotFound(str(_l("This import does not exist.")))
    return record


@dataclass(frozen=True)
class QuarantineEntry:
    row: int
    field: str | None
    problems: list[Message]
    source_ref: str
    buyer: str
    amount: str


def quarantine_query(session: Session, actor, import_id: int) -> tuple[SpendImport, sa.Select]:
    """The import (same access as `visible_import`) and the query of the records it left out, in file order."""
    record = visible_import(session, actor, import_id)
    stmt = (
        sa.select(SpendQuarantine)
        .where(SpendQuarantine.import_id == record.id)
        .order_by(SpendQuarantine.row, SpendQuarantine.id)
    )
    return record, stmt


def quarantine_entry(item: SpendQuarantine) -> QuarantineEntry:
    problems = [Message(item.row, p.get("column"), p["message"], p["params"]) for p in json.loads(item.problems)]
    return QuarantineEntry(item.row, item.field, problems, item.source_ref, item.buyer, item.amount)


def import_quarantine(
    session: Session, actor, import_id: int, limit: int | None = None
) -> tuple[SpendImport, list[QuarantineEntry]]:
    """The records an import left out, in file order (the first `limit` of them when given)."""
    record, stmt = quarantine_query(session, actor, import_id)
    return record, [quarantine_entry(item) for item in session.scalars(stmt.limit(limit))]


def quarantine_reason(entry: QuarantineEntry, translate: Callable[[str], str]) -> str:
    """Every problem of a quarantined record, in the reader's language."""
    return " ".join(problem.render(translate) for problem in entry.problems)


def rollback_import(session: Session, actor, import_id: int) -> SpendImport:
    """An admin removes every line of an import; the import stays listed as rolled back."""
    require_role(actor, ADMINS, _l("Only administrators roll imports back."))
    record = session.get(SpendImport, import_id)
    if record is None:
        raise NotFound(str(_l("This import does not exist.")))
    if record.rolled_back_at is not None:
        raise Conflict("already_rolled_back", str(_l("This import was already rolled back.")))
    session.execute(sa.delete(SpendCell).where(SpendCell.import_id == record.id))
    session.execute(sa.delete(SpendQuarantine).where(SpendQuarantine.import_id == record.id))
    session.execute(sa.delete(SpendLine).where(SpendLine.import_id == record.id))
    record.rolled_back_at = utcnow()
    record.rolled_back_by_id = actor.id
    record.active_sha256 = None
    session.flush()
    audit(session, actor, "spend.rolled_back", record, organization_id=record.organization_id)
    return record
