"""Spend imports: all or nothing, recorded with the file's SHA-256 per organization so the same file is never counted
twice; lines already imported from another file are skipped; an admin may roll an import back as a whole."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import freshness
from app.actors import ADMINS, SEE_ALL, require_role
from app.audit.services import record as audit
from app.clock import utcnow
from app.db import random_id, random_ids
from app.domain.spend_import import (
    CHUNK_ROWS,
    FORMATS,
    MAX_ROWS,
    Quarantined,
    SpendStream,
    arrow_strings,
    parse_spend,
    stream_spend,
)
from app.domain.tabular import Message
from app.domain.text import N_
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.organizations.models import Organization
from app.reference.models import CpvCode
from app.spend.blocks import (
    FingerprintCounts,
    LineKeys,
    amount_cents,
    encode_lines,
    fingerprint_array,
    fingerprints_of,
    occurrences,
    pack_keys,
)
from app.spend.models import SpendBlock, SpendCell, SpendImport, SpendQuarantine
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


def stored_keys(session: Session, organization_id: int) -> LineKeys:
    """The keys of the lines stored for an organization (its blocks' packed keys: 20 bytes a line)."""
    return LineKeys.from_packed(
        session.scalars(sa.select(SpendBlock.keys).where(SpendBlock.organization_id == organization_id))
    )


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
    fingerprints = fingerprints_of(pd.Series([r["fingerprint"] for r in result.rows], dtype=object))
    known = stored_keys(session, organization.id).contains(fingerprints, occurrences(fingerprints, FingerprintCounts()))
    new_rows = [r for r, stored in zip(result.rows, known.tolist(), strict=True) if not stored]
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


WRITE_BATCH = 5_000  # rows per INSERT statement of the quarantined records


def supplier_key(siret: str | None, name: str | None) -> str:
    return siret or (name or "").strip().upper()[:200]


def _write_block(
    session: Session, lines: pd.DataFrame, fingerprints: np.ndarray, import_id: int, organization_id: int, seq: int
) -> np.ndarray:
    """A slice of new lines (a `lines_frame` with its `occurrence`, and their fingerprints' bytes) as one block of the
    import; their amounts in cents."""
    cents = amount_cents(lines["amount"])
    session.connection().execute(
        sa.insert(SpendBlock.__table__),
        {
            "id": random_id(),
            "import_id": import_id,
            "organization_id": organization_id,
            "seq": seq,
            "line_count": len(lines),
            "lines": encode_lines(lines, cents),
            "keys": pack_keys(fingerprints, lines["occurrence"].to_numpy()),
        },
    )
    return cents


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
    """The cells of an import summed from the new lines of its slices while they are stored (the supplier key: its
    SIRET, else its name upper-cased by the database's own upper(), asked for the non-ASCII names, as the pages
    that match suppliers do), with the import's line count, total and dates."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []
        self.count = 0
        self.cents = 0
        self.first: str | None = None
        self.last: str | None = None

    def add(self, lines: pd.DataFrame, cents: np.ndarray) -> None:
        """Sum a slice of lines, with their amounts in cents (`amount_cents`), by Arrow's group_by."""
        sirets = arrow_strings(lines["supplier_siret"])
        named = pc.is_null(sirets)
        names = pc.utf8_trim(pc.fill_null(arrow_strings(lines["supplier_name"]), ""), " ")
        table = pa.table(
            {
                "year": pa.array(lines["year"].to_numpy(dtype=np.int64)),
                "cpv_prefix": pc.utf8_slice_codeunits(arrow_strings(lines["cpv_code"]), 0, CELL_PREFIX),
                "supplier_key": pc.if_else(named, names, sirets),  # upper-cased once per distinct key, at the end
                "supplier_upper": named,
                "supplier_postcode": arrow_strings(lines["supplier_postcode"]),
                "supplier_city": arrow_strings(lines["supplier_city"]),
                "sum": pa.array(cents, pa.int64()),
                "size": pa.array(np.ones(len(cents), dtype=np.int64)),
            }
        )
        self.parts.append(_summed(table))
        if len(self.parts) > PARTS_KEPT:  # bounded by the cells, not by the slices: a file of any length
            self.parts = [_summed(pa.concat_tables(self.parts))]
        self.count += len(lines)
        self.cents += int(cents.sum())
        span = pc.min_max(arrow_strings(lines["spend_date"]))
        first, last = span["min"].as_py(), span["max"].as_py()
        self.first = first if self.first is None else min(first, self.first)
        self.last = last if self.last is None else max(last, self.last)

    def cells(self, connection) -> list[tuple]:
        """(year, cpv_prefix, supplier_key, supplier_postcode, supplier_city, amount as decimal text, lines)."""
        if not self.parts:
            return []
        frame = pa.concat_tables(self.parts).to_pandas()
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


def _summed(table: pa.Table) -> pa.Table:
    """Lines or sums of lines (`sum`, `size`) summed per `_SLICE_KEYS` (a missing key a key of its own)."""
    summed = table.group_by(_SLICE_KEYS, use_threads=False).aggregate([("sum", "sum"), ("size", "sum")])
    return summed.rename_columns({"sum_sum": "sum", "size_sum": "size"}).select([*_SLICE_KEYS, "sum", "size"])


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


def _write_cells(session: Session, import_id: int, organization_id: int, sums: list[tuple]) -> None:
    """The import's cells (`SliceCells.cells`), written in one statement (SQLite) or one COPY."""
    connection = session.connection()
    if not sums:
        return
    ids = random_ids(len(sums))
    if connection.dialect.name == "postgresql":
        rows = ((cell_id, import_id, organization_id, *cell) for cell_id, cell in zip(ids, sums, strict=True))
        _copy_rows(connection, "spend_cell", _CELL_COLUMNS, rows)
        return
    # SQLite binds no Decimal: the sums as decimal text, as SQLAlchemy's Numeric writes them there.
    marks = ", ".join("?" for _ in _CELL_COLUMNS)
    insert = f"INSERT INTO spend_cell ({', '.join(_CELL_COLUMNS)}) VALUES ({marks})"  # noqa: S608 - fixed names
    rows = [(cell_id, import_id, organization_id, *cell) for cell_id, cell in zip(ids, sums, strict=True)]
    if len(rows) > 1:
        with freshness.insert_triggers_set_aside(connection, "spend_cell"):
            connection.exec_driver_sql(insert, rows[:-1])
    connection.exec_driver_sql(insert, rows[-1])  # fires the data-version triggers, once


def _hash_source(source: bytes | str | Path) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    with open(source, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class _Slice:
    """A slice of a spend stream as the reading thread hands it over: its valid lines (`lines_frame`), the records it
    quarantined, and the count of data rows read so far."""

    lines: pd.DataFrame
    quarantined: list[Quarantined]
    rows_read: int


def _read_ahead(stream: SpendStream) -> Iterator[_Slice]:
    """The slices of a stream, each read and checked by a thread of its own while the caller stores the one before:
    Arrow's CSV reader and string kernels, zstd and the database drivers let go of the interpreter's lock, so on two
    cores the reading and the storing partly overlap. The thread stays one slice ahead at most (memory bounded by three
    slices), owns the stream until it is exhausted (its errors and notes are complete once this ends) and never touches
    the database; an exception it meets is raised here, and a caller that stops early stops it too."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for lines in stream.chunks:
                taken, stream.quarantined = stream.quarantined, []
                if not offer(_Slice(lines, taken, stream.rows_read)):
                    return
            offer(None)
        except BaseException as exc:  # noqa: BLE001 - handed over to the caller's thread, which raises it
            offer(exc)
        finally:
            if close := getattr(stream.chunks, "close", None):  # a generator's file handle, when it stops early
                close()

    worker = threading.Thread(target=produce, name="spend-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


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
    time; the new lines of each slice of a valid file are stored at once as one block, the lines the organization
    already has (same fingerprint and occurrence) left out; the first bad row stops the writing and the rest of the
    file is only checked, to report every problem, then the whole transaction is refused. The cells are summed from
    the new lines meanwhile. `progress(rows_read)` is told after each slice. `max_rows` bounds what a web or API
    upload may hold (None: no limit, for the command line)."""
    sha256 = _hash_source(source)
    organization, check_digits = _import_target(session, actor, organization, fmt, sha256)
    # One import at a time per organization reads its stored keys and adds lines, so two files holding the same line
    # never both count it: PostgreSQL locks the organization's row first (before the import's row, whose foreign key
    # would share that lock with a concurrent import and make the two wait on each other); SQLite's first write below
    # takes the database's write lock.
    session.execute(sa.select(Organization.id).where(Organization.id == organization.id).with_for_update())
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
    keys = stored_keys(session, organization.id)
    counts = FingerprintCounts()  # of the file's lines so far
    valid = quarantined = blocks = 0
    first_quarantined: Quarantined | None = None
    summed = SliceCells()
    for piece in _read_ahead(stream):
        lines = piece.lines
        _check_row_limit(piece.rows_read, max_rows)
        valid += len(lines)
        if len(lines):
            fingerprints = fingerprint_array(lines["fingerprint"])
            lines["occurrence"] = occurrences(fingerprints, counts)
            stored = keys.contains(fingerprints, lines["occurrence"].to_numpy())
            if not stored.all():
                new = lines[~stored]
                summed.add(new, _write_block(session, new, fingerprints[~stored], record.id, organization.id, blocks))
                blocks += 1
                del new
        del lines
        quarantined += _write_quarantine(session, record.id, piece.quarantined)
        first_quarantined = first_quarantined or next(iter(piece.quarantined), None)
        if progress is not None:
            progress(piece.rows_read)
        del piece
    del counts, keys
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
    count, total, first, last = summed.count, Decimal(summed.cents) / 100, summed.first, summed.last
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
    _write_cells(session, record.id, organization.id, summed.cells(session.connection()))
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
    session.execute(sa.delete(SpendBlock).where(SpendBlock.import_id == record.id))
    record.rolled_back_at = utcnow()
    record.rolled_back_by_id = actor.id
    record.active_sha256 = None
    session.flush()
    audit(session, actor, "spend.rolled_back", record, organization_id=record.organization_id)
    return record
