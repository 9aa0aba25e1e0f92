"""Robust reading of the spreadsheet files French public buyers actually produce.

Files arrive as XLSX or as CSV exported by Excel or LibreOffice in any of their flavours:
UTF-8 with or without BOM, Windows-1252, `;` (the French default), `,` or tab separated.
`read_table` turns such a file into a DataFrame of stripped strings whose columns carry
canonical names and whose index holds the row numbers the user sees in the spreadsheet,
so that every error can point at a row the user can find.

Every user-facing message is an English msgid marked with `N_` and rendered later, by the
app, with `Message.render(translate)`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from app.domain.text import N_, fold

__all__ = [
    "CellError",
    "Message",
    "RowReport",
    "Table",
    "TableError",
    "XlsxLimits",
    "neutralise_formula",
    "normalise_header",
    "parse_bool",
    "parse_date",
    "parse_decimal",
    "parse_int",
    "read_table",
    "read_table_chunks",
]

ROW_INDEX_NAME = "row"


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    """One translatable remark about a file, a row or a cell.

    `row` is the row number as the spreadsheet shows it (None for the whole file), `column`
    the canonical column name (None when the remark is not about one column), `message` an
    English msgid with %(name)s placeholders filled from `params`.
    """

    row: int | None
    column: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, translate: Callable[[str], str] = lambda s: s) -> str:
        return translate(self.message) % self.params


class TableError(Exception):
    """The file as a whole cannot be read; `messages` says why, in the user's terms."""

    def __init__(self, messages: list[Message]):
        super().__init__("; ".join(m.render() for m in messages))
        self.messages = messages


class CellError(ValueError):
    """One cell does not hold what its column expects."""

    def __init__(self, message: str, params: Mapping[str, Any] | None = None):
        self.message = message
        self.params = dict(params or {})
        super().__init__(message % self.params)


def _file_error(message: str, **params: Any) -> Message:
    return Message(None, None, message, params)


# --------------------------------------------------------------------------- headers

_NOT_WORD = re.compile(r"[\W_]+")


def normalise_header(text: str) -> str:
    """Fold case and accents, punctuation as space: 'Montant annuel HT (€)' -> 'montant annuel ht'."""
    return _NOT_WORD.sub(" ", fold(str(text or ""))).strip()


def _alias_index(aliases: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Map every normalised accepted header to its canonical column; the canonical name is always accepted."""
    index: dict[str, str] = {}
    for canonical, accepted in aliases.items():
        for header in (canonical, *accepted):
            key = normalise_header(header)
            if not key:
                raise ValueError(f"empty header alias for column {canonical!r}")
            owner = index.setdefault(key, canonical)
            if owner != canonical:
                raise ValueError(f"header {header!r} is declared for both {owner!r} and {canonical!r}")
    return index


def _label(canonical: str, aliases: Mapping[str, Iterable[str]]) -> str:
    """The header shown to users for a column: its first declared alias."""
    return next(iter(aliases.get(canonical, ())), canonical)


# --------------------------------------------------------------------------- table


@dataclass
class Table:
    """A sheet read from a file.

    `frame` has one column per recognised canonical column (unknown columns are dropped), every
    cell a stripped `str`, and an index named "row" holding spreadsheet row numbers (header = the
    first non-empty row, usually row 1). `headers` maps each canonical column to the header text
    found in the file. `sheet` is the XLSX sheet name, None for CSV.
    """

    frame: pd.DataFrame
    sheet: str | None
    notes: list[Message]
    headers: dict[str, str] = field(default_factory=dict)

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(row number, {canonical column: cell text}) for every data row."""
        columns = list(self.frame.columns)
        for row_number, values in zip(self.frame.index, self.frame.itertuples(index=False, name=None), strict=True):
            yield int(row_number), dict(zip(columns, values, strict=True))


@dataclass(frozen=True)
class XlsxLimits:
    """How much work an XLSX file may cost before it is refused (None: no limit).

    A workbook is a zip archive: a small upload can declare millions of rows or cells (a "spreadsheet bomb") and hold
    a worker for minutes. Before anything is parsed, the archive's declared sizes and compression ratios are checked
    and its cells counted (a fast scan of the decompressed bytes); the sheets are then read as a stream that stops at
    the row and column limits. The defaults bound web uploads to the work of the largest genuine import; the command
    line may pass larger ones.
    """

    max_uncompressed_bytes: int | None = 200 * 1024 * 1024  # all parts of the archive, as declared
    max_ratio: int | None = 100  # per part larger than RATIO_FLOOR_BYTES; genuine sheets compress 5 to 30 times
    max_cells: int | None = 2_000_000  # cells of all sheets, empty ones included (100,000 rows of 20 columns)
    max_sheet_rows: int | None = 250_000  # the last spreadsheet row read, empty rows included
    max_columns: int | None = 256  # the last column read (IV, the width of the old .xls format)


RATIO_FLOOR_BYTES = 1024 * 1024  # small parts (styles, a short sheet) may compress far better, harmlessly


@dataclass
class _Grid:
    """Raw rows of one sheet: (spreadsheet row number, cells) with blank rows already removed."""

    sheet: str | None
    header_row: int
    header: list[str]
    rows: list[tuple[int, list[str]]]
    truncated: bool = False


def read_table(
    data: bytes,
    filename: str,
    *,
    required: Iterable[str] = (),
    aliases: Mapping[str, Iterable[str]],
    max_rows: int | None = None,
    xlsx_limits: XlsxLimits | None = None,
) -> Table:
    """Read an XLSX or CSV file (detected by content, not by name) into a `Table`.

    Raises TableError for an empty file, a file without data rows, undecodable bytes, an
    unreadable workbook, a workbook beyond `xlsx_limits` (default: `XlsxLimits()`), missing
    required columns, a column given twice, or more than `max_rows` data rows.
    """
    required = list(required)
    aliases = {name: tuple(accepted) for name, accepted in aliases.items()}  # iterables may be one-shot
    for name in required:
        if name not in aliases:
            raise ValueError(f"required column {name!r} has no declared aliases")
    index = _alias_index(aliases)

    if not data:
        raise TableError([_file_error(N_("The file “%(filename)s” is empty."), filename=filename)])

    if _looks_like_xlsx(data):
        grids = _xlsx_grids(data, filename, max_rows, xlsx_limits or XlsxLimits())
    else:
        _refuse_other_binaries(data, filename)
        grids = [_csv_grid(data, filename, max_rows)]

    grid = _choose_grid(grids, required, index, aliases, filename)
    return _build_table(grid, required, index, aliases, filename, max_rows)


def _choose_grid(
    grids: list[_Grid],
    required: list[str],
    index: Mapping[str, str],
    aliases: Mapping[str, Iterable[str]],
    filename: str,
) -> _Grid:
    non_empty = [g for g in grids if g.header]
    if not non_empty:
        raise TableError([_file_error(N_("The file “%(filename)s” is empty."), filename=filename)])
    for grid in non_empty:
        found = {index.get(normalise_header(h)) for h in grid.header}
        if all(name in found for name in required):
            return grid
    if len(non_empty) == 1:
        return non_empty[0]  # _build_table reports the missing columns in detail
    sheets = ", ".join(f"“{g.sheet}”" for g in grids)
    missing_labels = ", ".join(f"“{_label(name, aliases)}”" for name in required)
    messages = [
        _file_error(
            N_("No sheet of the workbook contains all the required columns (%(columns)s). Sheets found: %(sheets)s."),
            columns=missing_labels,
            sheets=sheets,
        )
    ]
    for grid in non_empty:
        found = {index.get(normalise_header(h)) for h in grid.header}
        missing = [name for name in required if name not in found]
        messages.append(
            _file_error(
                N_("Sheet “%(sheet)s”: missing %(columns)s; headers found: %(found)s."),
                sheet=grid.sheet,
                columns=", ".join(f"“{_label(name, aliases)}”" for name in missing),
                found=_quoted_list(grid.header),
            )
        )
    raise TableError(messages)


def _quoted_list(values: Iterable[str]) -> str:
    return ", ".join(f"“{v}”" for v in values if v) or "—"


def _column_letter(position: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA', as spreadsheets name columns."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _map_header(
    header: list[str],
    has_data: Callable[[int], bool],
    required: list[str],
    index: Mapping[str, str],
    aliases: Mapping[str, Iterable[str]],
) -> tuple[list[tuple[int, str]], dict[str, str], list[Message]]:
    """(kept (position, canonical name), canonical -> header found, notes) of a header row; TableError for a
    column given twice or a required column missing. `has_data(position)` says whether a column has any cell."""
    notes: list[Message] = []
    errors: list[Message] = []
    kept: list[tuple[int, str]] = []  # (position in the row, canonical name)
    headers: dict[str, str] = {}
    for position, header_text in enumerate(header):
        if not header_text:
            if has_data(position):
                notes.append(
                    Message(
                        None,
                        None,
                        N_("Column %(letter)s has no header and was ignored."),
                        {"letter": _column_letter(position)},
                    )
                )
            continue
        canonical = index.get(normalise_header(header_text))
        if canonical is None:
            notes.append(
                Message(
                    None,
                    None,
                    N_("Column “%(header)s” is not recognised and was ignored."),
                    {"header": header_text},
                )
            )
            continue
        if canonical in headers:
            errors.append(
                Message(
                    None,
                    canonical,
                    N_("Columns “%(first)s” and “%(second)s” both give “%(label)s”; keep only one."),
                    {"first": headers[canonical], "second": header_text, "label": _label(canonical, aliases)},
                )
            )
            continue
        headers[canonical] = header_text
        kept.append((position, canonical))

    for name in required:
        if name not in headers:
            accepted = list(dict.fromkeys(aliases[name]))
            errors.append(
                Message(
                    None,
                    name,
                    N_("Missing column “%(label)s” (accepted headers: %(accepted)s). Headers found: %(found)s."),
                    {
                        "label": _label(name, aliases),
                        "accepted": _quoted_list(accepted),
                        "found": _quoted_list(header),
                    },
                )
            )
    if errors:
        raise TableError(errors)
    return kept, headers, notes


def _build_table(
    grid: _Grid,
    required: list[str],
    index: Mapping[str, str],
    aliases: Mapping[str, Iterable[str]],
    filename: str,
    max_rows: int | None,
) -> Table:
    kept, headers, notes = _map_header(
        grid.header,
        lambda position: any(position < len(cells) and cells[position] for _, cells in grid.rows),
        required,
        index,
        aliases,
    )
    if not grid.rows:
        raise TableError(
            [_file_error(N_("The file “%(filename)s” has a header row but no data rows."), filename=filename)]
        )
    if grid.truncated and max_rows is not None:
        raise TableError(
            [_file_error(N_("The file has more than %(max)s data rows; split it into several files."), max=max_rows)]
        )

    width = len(grid.header)
    overflowing = [number for number, cells in grid.rows if any(cells[width:])]
    if overflowing:
        notes.append(
            Message(
                overflowing[0],
                None,
                N_(
                    "%(count)s row(s) have cells beyond the last header, starting at row %(row)s; "
                    "those cells were ignored."
                ),
                {"count": len(overflowing), "row": overflowing[0]},
            )
        )

    positions = [p for p, _ in kept]
    values = [[cells[p] if p < len(cells) else "" for p in positions] for _, cells in grid.rows]
    frame = pd.DataFrame(
        values,
        columns=[name for _, name in kept],
        index=pd.Index([number for number, _ in grid.rows], name=ROW_INDEX_NAME),
        dtype=str,
    )
    return Table(frame=frame, sheet=grid.sheet, notes=notes, headers=headers)


def _grid_from_rows(sheet: str | None, rows: Iterable[tuple[int, list[str]]], max_rows: int | None) -> _Grid:
    """Find the header (first non-empty row), drop blank rows, stop after max_rows + 1 data rows."""
    header_row = 0
    header: list[str] = []
    data: list[tuple[int, list[str]]] = []
    truncated = False
    for number, cells in rows:
        if not any(cells):
            continue
        if not header:
            header_row, header = number, _trim_trailing(cells)
            continue
        if max_rows is not None and len(data) >= max_rows:
            truncated = True
            break
        data.append((number, cells))
    return _Grid(sheet, header_row, header, data, truncated)


def _trim_trailing(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


# --------------------------------------------------------------------------- XLSX

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _looks_like_xlsx(data: bytes) -> bool:
    return data.startswith(_ZIP_MAGIC)


def _unreadable_workbook(filename: str) -> TableError:
    return TableError(
        [
            _file_error(
                N_(
                    "The file “%(filename)s” looks like a zip archive but is not a readable "
                    "Excel workbook (.xlsx). "
                    "Save it again as .xlsx or as CSV."
                ),
                filename=filename,
            )
        ]
    )


def _check_archive(data: bytes, filename: str, limits: XlsxLimits) -> None:
    """Refuse, before any part is parsed, an archive that would decompress to more than the limits allow."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:  # not a zip, or a damaged directory
        raise _unreadable_workbook(filename) from exc
    with archive:
        parts = archive.infolist()
        total = sum(part.file_size for part in parts)
        if limits.max_uncompressed_bytes is not None and total > limits.max_uncompressed_bytes:
            raise TableError(
                [
                    _file_error(
                        N_(
                            "The workbook “%(filename)s” would take %(size)s MB once decompressed; at most %(max)s MB "
                            "are read. Split it into several files, or save it as CSV."
                        ),
                        filename=filename,
                        size=_megabytes(total),
                        max=_megabytes(limits.max_uncompressed_bytes),
                    )
                ]
            )
        for part in parts:
            ratio = part.file_size // max(part.compress_size, 1)
            if limits.max_ratio is not None and part.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
                raise TableError(
                    [
                        _file_error(
                            N_(
                                "The workbook “%(filename)s” is compressed %(ratio)s times, far more than a "
                                "spreadsheet (at most %(max)s times): it is mostly empty rows or cells. Delete them, "
                                "or save the file as CSV."
                            ),
                            filename=filename,
                            ratio=ratio,
                            max=limits.max_ratio,
                        )
                    ]
                )
        if limits.max_cells is not None and _count_cells(archive, parts) > limits.max_cells:
            raise TableError(
                [
                    _file_error(
                        N_(
                            "The workbook “%(filename)s” has more than %(max)s cells, counting empty ones; delete the "
                            "empty rows and columns around your data, split it, or save it as CSV."
                        ),
                        filename=filename,
                        max=limits.max_cells,
                    )
                ]
            )


def _megabytes(size: int) -> int:
    return -(-size // (1024 * 1024))


def _count_cells(archive: zipfile.ZipFile, parts: list[zipfile.ZipInfo]) -> int:
    """The cell elements (<c …>, or <x:c …> with a namespace prefix) of every XML part, counted on the decompressed
    bytes without parsing them. A few other tags starting with "c" (<col>, <cfRule>) count too: an upper bound."""
    count = 0
    try:
        for part in parts:
            if not part.filename.endswith(".xml"):
                continue
            with archive.open(part) as stream:
                tail = b""
                while chunk := stream.read(1024 * 1024):
                    block = tail + chunk
                    count += block.count(b"<c") + block.count(b":c")
                    tail = block[-1:]
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise _unreadable_workbook(archive.filename or "") from exc
    return count


def _xlsx_grids(data: bytes, filename: str, max_rows: int | None, limits: XlsxLimits) -> list[_Grid]:
    import openpyxl  # imported lazily: CSV-only callers do not pay for it

    _check_archive(data, filename, limits)
    unreadable = _unreadable_workbook(filename)
    try:
        with warnings.catch_warnings():
            # Real-world workbooks trigger harmless openpyxl warnings (unsupported extensions, styles).
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated exception types on corrupt files
        raise unreadable from exc
    try:
        grids = []
        for worksheet in workbook.worksheets:
            if not hasattr(worksheet, "iter_rows"):  # chartsheets
                continue
            _check_dimension(worksheet, limits)
            worksheet.reset_dimensions()  # do not trust the stored dimension, some writers get it wrong
            grids.append(_grid_from_rows(worksheet.title, _bounded_rows(worksheet, limits), max_rows))
        return grids
    except TableError:
        raise
    except Exception as exc:  # corrupt sheet XML surfaces only while iterating
        raise unreadable from exc
    finally:
        workbook.close()


def _check_dimension(worksheet, limits: XlsxLimits) -> None:
    """Refuse at once a sheet whose stored dimension (<dimension ref="A1:XFD1048576"/>) is beyond the limits."""
    rows, columns = worksheet.max_row, worksheet.max_column
    too_many_rows = limits.max_sheet_rows is not None and (rows or 0) > limits.max_sheet_rows
    too_many_columns = limits.max_columns is not None and (columns or 0) > limits.max_columns
    if too_many_rows or too_many_columns:
        declared = f"{_column_letter((worksheet.min_column or 1) - 1)}{worksheet.min_row or 1}:"
        declared += f"{_column_letter(columns - 1)}{rows}"
        raise TableError(
            [
                _file_error(
                    N_(
                        "The sheet “%(sheet)s” declares the range %(range)s; at most %(rows)s rows and %(columns)s "
                        "columns (up to %(letter)s) are read. Delete the empty rows and columns around your data, or "
                        "save it as CSV."
                    ),
                    sheet=worksheet.title,
                    range=declared,
                    rows=limits.max_sheet_rows if limits.max_sheet_rows is not None else "∞",
                    columns=limits.max_columns if limits.max_columns is not None else "∞",
                    letter=_column_letter(limits.max_columns - 1) if limits.max_columns is not None else "—",
                )
            ]
        )


def _bounded_rows(worksheet, limits: XlsxLimits) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of a sheet, read as a stream that stops past the row limit and refuses a value past
    the column limit. Empty rows cost no conversion."""
    last_row, width = limits.max_sheet_rows, limits.max_columns
    values_by_row = worksheet.iter_rows(max_row=last_row + 1 if last_row is not None else None, values_only=True)
    for number, values in enumerate(values_by_row, start=1):
        if last_row is not None and number > last_row:
            raise TableError(
                [
                    _file_error(
                        N_(
                            "The sheet “%(sheet)s” goes on past row %(max)s (empty rows count too); at most %(max)s "
                            "rows are read. Delete the rows below your data, split the file, or save it as CSV."
                        ),
                        sheet=worksheet.title,
                        max=last_row,
                    )
                ]
            )
        if values.count(None) == len(values):
            yield number, []
            continue
        if width is not None and len(values) > width:
            beyond = values[width:]
            if beyond.count(None) != len(beyond):
                raise TableError(
                    [
                        _file_error(
                            N_(
                                "The sheet “%(sheet)s” has a value beyond column %(letter)s, in row %(row)s; at most "
                                "%(max)s columns are read. Move or delete it, or save the file as CSV."
                            ),
                            sheet=worksheet.title,
                            letter=_column_letter(width - 1),
                            row=number,
                            max=width,
                        )
                    ]
                )
            values = values[:width]
        yield number, [_excel_cell_text(v) for v in values]


def _excel_cell_text(value: Any) -> str:
    """The text a cell stands for: dates as ISO, numbers without float artefacts."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


def _float_text(value: float) -> str:
    """Plain decimal text of a float as Excel shows it (15 significant digits).

    1234.5600000001 -> '1234.56', 1234.0 -> '1234', 1e20 -> '100000000000000000000'.
    A fraction of exactly three digits gets a trailing zero ('1.234' -> '1.2340') so that
    `parse_decimal` cannot mistake the point for a thousands separator.
    """
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    if value == 0:
        return "0"
    text = format(Decimal(format(value, ".15g")), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if "." in text and len(text.split(".", 1)[1]) == 3:
        text += "0"
    return text


# --------------------------------------------------------------------------- CSV

_SEPARATORS = (";", "\t", ",")  # order of preference when the header is ambiguous
_SEP_HINT = re.compile(r"^\ufeff?sep=(.)\r?\n", re.IGNORECASE)


def _refuse_other_binaries(data: bytes, filename: str) -> None:
    if data.startswith(_OLE_MAGIC):
        raise TableError(
            [
                _file_error(
                    N_("The file “%(filename)s” is in the old Excel format (.xls); save it as .xlsx or as CSV."),
                    filename=filename,
                )
            ]
        )


def _decode(data: bytes, filename: str) -> str:
    """UTF-8 (BOM optional), UTF-16 with BOM (Excel 'Unicode text'), else Windows-1252.

    Windows-1252 is a superset of Latin-1 for printable characters, so it also reads Latin-1
    files; only its five undefined bytes make decoding fail.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: Sequence[str] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break  # a binary file that happens to decode
        return text.removeprefix("\ufeff")
    raise TableError(
        [
            _file_error(
                N_(
                    "The file “%(filename)s” is neither an Excel workbook (.xlsx) "
                    "nor a readable CSV text file "
                    "(expected encoding UTF-8 or Windows-1252)."
                ),
                filename=filename,
            )
        ]
    )


def _detect_separator(text: str) -> str:
    """The separator giving the most fields on the first non-empty line; ties prefer ';' (French norm)."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    best, best_count = _SEPARATORS[0], 1
    for separator in _SEPARATORS:
        try:
            count = len(next(csv.reader([first_line], delimiter=separator), []))
        except csv.Error:
            continue
        if count > best_count:
            best, best_count = separator, count
    return best


def _separator(text: str) -> tuple[str, str, int]:
    """(separator, the text after Excel's "sep=;" first line if any, how many lines that line takes: 0 or 1)."""
    hint = _SEP_HINT.match(text)
    if hint:  # Excel's "sep=;" first line: not shown as a row by Excel, so it does not count
        return hint.group(1), text[hint.end() :], 1
    return _detect_separator(text), text, 0


def _unreadable_csv(filename: str, exc: Exception) -> TableError:
    return TableError(
        [
            _file_error(
                N_("The CSV file “%(filename)s” cannot be read: %(reason)s."),
                filename=filename,
                reason=str(exc),
            )
        ]
    )


def _csv_grid(data: bytes, filename: str, max_rows: int | None) -> _Grid:
    text = _decode(data, filename)
    separator, text, _ = _separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows = ((number, [cell.strip() for cell in cells]) for number, cells in enumerate(reader, start=1))
    try:
        return _grid_from_rows(None, rows, max_rows)
    except csv.Error as exc:
        raise _unreadable_csv(filename, exc) from exc


# --------------------------------------------------------------------------- streaming

HEAD_BYTES = 1024 * 1024  # enough to find the header row of any genuine file
_SCAN_BYTES = 4 * 1024 * 1024


@dataclass
class ChunkedTable:
    """A table read a slice at a time: `chunks` yields DataFrames shaped like `Table.frame` (canonical columns,
    stripped strings, index of spreadsheet row numbers) of at most `chunk_rows` rows, blank rows left out.
    Iterating may raise TableError when the file turns out unreadable further down."""

    sheet: str | None
    notes: list[Message]
    headers: dict[str, str]
    chunks: Iterator[pd.DataFrame]


def _open_source(source: bytes | str | Path) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115


def _stream_encoding(source: bytes | str | Path, filename: str) -> str | None:
    """utf-8-sig or cp1252 for a CSV text read as a stream; None when it must be read whole (UTF-16, a binary)."""
    with _open_source(source) as handle:
        head = handle.read(8)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_like_xlsx(head):
            return None
        handle.seek(0)
        for encoding in ("utf-8", "cp1252"):
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                while block := handle.read(_SCAN_BYTES):
                    if b"\x00" in block:
                        return None  # a binary file: the whole-file reader says why it is refused
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                handle.seek(0)
                continue
            return "utf-8-sig" if encoding == "utf-8" else encoding
    return None


@dataclass(frozen=True)
class _Layout:
    """How a CSV text is laid out: its separator and encoding, the width of its header row, the positions of the
    columns kept, and the lines before its first data row."""

    separator: str
    encoding: str
    width: int
    positions: list[int]
    skip: int


ARROW_BLOCK_BYTES = 4 * 1024 * 1024


def _records(source: bytes | str | Path, layout: _Layout, chunk_rows: int, filename: str) -> Iterator[pd.DataFrame]:
    """The data records of a CSV text, `chunk_rows` at a time: DataFrames of the kept columns (in `layout.positions`
    order) as pandas strings, indexed by record from 0. Read by Arrow's CSV reader (in C++, straight into the Arrow
    strings pandas holds, without the interpreter's lock); a record it refuses (more or fewer fields than the header,
    a quote left open) sends the rest of the file, from that record on, through pandas' reader, which reads such a
    file as it always did or says why not."""
    done = 0
    try:
        for chunk in _arrow_records(source, layout, chunk_rows):
            done += len(chunk)
            yield chunk
        return
    except (pa.ArrowInvalid, UnicodeDecodeError):
        pass
    try:
        for chunk in _pandas_records(source, layout, chunk_rows):
            chunk = chunk[chunk.index >= done]
            if len(chunk):
                yield chunk
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable_csv(filename, exc) from exc


def _arrow_records(source: bytes | str | Path, layout: _Layout, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """`_records` as Arrow reads them: every value a string as written (no missing value, no type guessed), a blank
    line a record of empty values, as pandas reads them."""
    names = [str(position) for position in range(layout.width)]
    kept = [names[position] for position in layout.positions]
    with _open_source(source) as handle:
        reader = pa_csv.open_csv(
            handle,
            read_options=pa_csv.ReadOptions(
                skip_rows=layout.skip,
                column_names=names,
                encoding="utf8" if layout.encoding == "utf-8-sig" else layout.encoding,
                block_size=ARROW_BLOCK_BYTES,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=layout.separator, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(kept, pa.string()),
                include_columns=kept,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        with reader:
            batches = _rebatched(reader, chunk_rows)
            start = 0
            for table in batches:
                frame = table.to_pandas()
                frame.columns = layout.positions
                frame.index = pd.RangeIndex(start, start + len(frame))
                start += len(frame)
                yield frame


def _rebatched(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Record batches of any sizes as tables of `rows` rows (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        start = 0
        while start < batch.num_rows:
            take = min(rows - count, batch.num_rows - start)
            pending.append(batch.slice(start, take))
            count += take
            start += take
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _pandas_records(source: bytes | str | Path, layout: _Layout, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """`_records` as pandas' reader reads them."""
    handle = _open_source(source)
    reader = pd.read_csv(
        handle,
        sep=layout.separator,
        header=None,
        names=list(range(layout.width)),
        usecols=layout.positions,
        skiprows=layout.skip,
        skip_blank_lines=False,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        index_col=False,
        encoding=layout.encoding,
        chunksize=chunk_rows,
    )
    with handle, reader:
        for chunk in reader:
            yield chunk[layout.positions]


def read_table_chunks(
    source: bytes | str | Path,
    filename: str,
    *,
    required: Iterable[str] = (),
    aliases: Mapping[str, Iterable[str]],
    chunk_rows: int = 50_000,
) -> ChunkedTable:
    """Read a CSV file (a path or bytes) in slices of `chunk_rows` rows (`_records`: Arrow's reader, pandas' for a
    file Arrow refuses), memory bounded by the slice.

    Same rules as `read_table` (encodings, separators, Excel's `sep=` line, header = first non-empty row, row
    numbers as the spreadsheet shows them); an XLSX workbook or a UTF-16 text is read whole by `read_table` and
    then sliced. No row limit: the caller bounds what it accepts.
    """
    required = list(required)
    aliases = {name: tuple(accepted) for name, accepted in aliases.items()}
    encoding = _stream_encoding(source, filename)
    if encoding is None:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        table = read_table(data, filename, required=required, aliases=aliases)
        frame = table.frame
        slices = (frame.iloc[start : start + chunk_rows] for start in range(0, len(frame), chunk_rows))
        return ChunkedTable(table.sheet, table.notes, table.headers, slices)

    with _open_source(source) as handle:
        head = handle.read(HEAD_BYTES).decode(encoding, errors="replace")
    if not head.strip():
        raise TableError([_file_error(N_("The file “%(filename)s” is empty."), filename=filename)])
    separator, text, skipped_lines = _separator(head.removeprefix("\ufeff"))
    header: list[str] = []
    header_row = 0
    for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=separator), start=1):
        cells = [cell.strip() for cell in cells]
        if any(cells):
            header, header_row = _trim_trailing(cells), number
            break
    if not header:
        raise TableError([_file_error(N_("The file “%(filename)s” is empty."), filename=filename)])
    index = _alias_index(aliases)
    kept, headers, notes = _map_header(header, lambda position: False, required, index, aliases)
    names = [name for _, name in kept]

    layout = _Layout(separator, encoding, len(header), [position for position, _ in kept], skipped_lines + header_row)

    def slices() -> Iterator[pd.DataFrame]:
        rows = 0
        for chunk in _records(source, layout, chunk_rows, filename):
            chunk.columns = names
            chunk = chunk.apply(lambda column: column.str.strip())
            chunk.index = pd.Index(chunk.index + header_row + 1, name=ROW_INDEX_NAME)
            chunk = chunk[(chunk != "").any(axis=1)]
            rows += len(chunk)
            if len(chunk):
                yield chunk
        if not rows:
            raise TableError(
                [_file_error(N_("The file “%(filename)s” has a header row but no data rows."), filename=filename)]
            )

    return ChunkedTable(None, notes, headers, slices())


# --------------------------------------------------------------------------- cell parsers

_SPACES = "\u00a0\u202f\u2009\u2007 "  # NBSP, narrow NBSP, thin space, figure space, space
_CURRENCY = re.compile(r"^(?:€|eur(?:os?)?)\s*|\s*(?:€|eur(?:os?)?)$", re.IGNORECASE)
_ALLOWED = frozenset("0123456789.,+-" + _SPACES)
_NUMBER_CHARS = re.compile(r"^[\d.,]+$", re.ASCII)
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$", re.ASCII)
_SPACE_GROUPED = re.compile(r"^\d{1,3}(?: \d{3})+", re.ASCII)
_CENT = Decimal("0.01")


def _not_a_number(text: str) -> CellError:
    return CellError(N_("“%(value)s” is not a number."), {"value": text})


def parse_decimal(text: str, *, places: int = 2) -> Decimal:
    """Read a French or English number, rounded half-up to `places` decimals (cents by default).

    Accepted: '1 234 567,89' (space, NBSP or narrow NBSP groups), '1234567.89', '1.234.567,89',
    '1,234,567.89', '-12,5', '12 500 €', 'EUR 12500'. Refused: garbage, exponents, and a single
    separator followed by exactly three digits ('1,234' or '1.234'), which could be either a
    thousands or a decimal separator.
    """
    original = (text or "").strip()
    if not original:
        raise CellError(N_("A number is expected."))
    value = _CURRENCY.sub("", original).strip()
    value = value.replace("\u2212", "-")  # typographic minus
    if not value or not set(value) <= _ALLOWED:
        raise _not_a_number(original)
    sign = ""
    if value[0] in "+-":
        sign, value = value[0], value[1:].strip()

    # Spaces may only group thousands: '1 234 567,89'.
    if any(ch in value for ch in _SPACES):
        spaced = re.sub(f"[{_SPACES}]+", " ", value)
        match = _SPACE_GROUPED.match(spaced)
        if not match or " " in spaced[match.end() :]:
            raise _not_a_number(original)
        rest = spaced[match.end() :]
        if rest and not re.fullmatch(r"[.,]\d+", rest):
            raise _not_a_number(original)
        integer, fraction = match.group(0).replace(" ", ""), rest[1:]
    else:
        if not value or not _NUMBER_CHARS.match(value) or not any(ch.isdigit() for ch in value):
            raise _not_a_number(original)
        integer, fraction = _split_separators(value, original)

    if not integer.isdigit() or (fraction and not fraction.isdigit()):
        raise _not_a_number(original)
    number = Decimal(f"{sign}{integer}.{fraction or '0'}")
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _split_separators(value: str, original: str) -> tuple[str, str]:
    """Split digits written with '.' and ',' into (integer digits, fraction digits)."""
    commas, dots = value.count(","), value.count(".")
    if commas and dots:
        decimal_mark = "," if value.rfind(",") > value.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        integer, _, fraction = value.rpartition(decimal_mark)
        if thousands in fraction or decimal_mark in integer or not _GROUPED.match(integer):
            raise _not_a_number(original)
        return integer.replace(thousands, ""), fraction
    if not commas and not dots:
        return value, ""
    mark = "," if commas else "."
    if commas + dots > 1:  # '1.234.567' or '1,234,567': thousands only
        if not _GROUPED.match(value):
            raise _not_a_number(original)
        return value.replace(mark, ""), ""
    integer, _, fraction = value.partition(mark)
    if not integer or not fraction:
        raise _not_a_number(original)
    if len(fraction) == 3 and integer != "0" and not integer.startswith("0") and len(integer) <= 3:
        raise CellError(
            N_(
                "“%(value)s” is ambiguous: the separator could mark thousands or decimals. "
                "Write the number without a thousands separator, for instance 1234 or 1234,50."
            ),
            {"value": original},
        )
    return integer, fraction


_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"  # a midnight time exported along with the date
_ISO_DATE = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME + "$", re.ASCII)
_FRENCH_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d+)" + _TIME + "$", re.ASCII)
MIN_YEAR, MAX_YEAR = 1900, 2200


def parse_date(text: str) -> dt.date:
    """Read '2027-01-15', '15/01/2027', '15-01-2027' or '15.01.2027' (day first, four-digit year)."""
    value = (text or "").strip()
    if not value:
        raise CellError(N_("A date is expected."))
    iso = _ISO_DATE.match(value)
    french = _FRENCH_DATE.match(value)
    if iso:
        year, month, day = int(iso.group(1)), int(iso.group(3)), int(iso.group(4))
    elif french:
        day, month, year_text = int(french.group(1)), int(french.group(3)), french.group(4)
        if len(year_text) != 4:
            raise CellError(
                N_("“%(value)s”: write the year with four digits (for instance 15/01/2027)."),
                {"value": value},
            )
        year = int(year_text)
    else:
        raise CellError(N_("“%(value)s” is not a date; expected DD/MM/YYYY or YYYY-MM-DD."), {"value": value})
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CellError(N_("“%(value)s”: the year %(year)s is not plausible."), {"value": value, "year": year})
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise CellError(N_("“%(value)s” is not a date that exists."), {"value": value}) from exc


_INTEGER = re.compile(r"^[+-]?(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)$", re.ASCII)


def parse_int(text: str) -> int:
    """Read a whole number: '12', '-3', '1 000' (space-grouped thousands)."""
    value = (text or "").strip().replace("\u2212", "-")
    if not value:
        raise CellError(N_("A whole number is expected."))
    if not _INTEGER.match(value):
        raise CellError(N_("“%(value)s” is not a whole number."), {"value": value})
    return int(re.sub(r"[ \u00a0\u202f]", "", value))


_TRUE = frozenset({"oui", "yes", "vrai", "true", "1", "x", "o", "y"})
_FALSE = frozenset({"non", "no", "faux", "false", "0", "", "n"})


def parse_bool(text: str) -> bool:
    """oui/yes/vrai/true/1/x -> True; non/no/faux/false/0/empty -> False; anything else is refused."""
    value = fold(text or "")
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CellError(N_("“%(value)s” is not yes or no; write oui or non."), {"value": (text or "").strip()})


# --------------------------------------------------------------------------- reports

_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """Prefix a single quote to text a spreadsheet would run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_TRIGGERS) else text


_REPORT_HEADERS = {"fr": ("ligne", "colonne", "erreur"), "en": ("row", "column", "error")}


class RowReport:
    """Messages gathered while checking many rows, exportable as a CSV the user opens in Excel."""

    def __init__(self, messages: Iterable[Message] = ()):
        self._messages: list[Message] = list(messages)

    def add(
        self, row: int | None, column: str | None, message: str, params: Mapping[str, Any] | None = None
    ) -> Message:
        item = Message(row, column, message, dict(params or {}))
        self._messages.append(item)
        return item

    def add_message(self, message: Message) -> None:
        self._messages.append(message)

    def add_cell_error(self, row: int | None, column: str | None, error: CellError) -> None:
        self._messages.append(Message(row, column, error.message, error.params))

    def extend(self, messages: Iterable[Message]) -> None:
        self._messages.extend(messages)

    @property
    def messages(self) -> list[Message]:
        return list(self._messages)

    def rows(self) -> list[int]:
        """Distinct row numbers having at least one message, in order."""
        return sorted({m.row for m in self._messages if m.row is not None})

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self._messages)

    def sorted_messages(self) -> list[Message]:
        """File-level messages first, then by row; messages of one row keep their order."""
        return sorted(self._messages, key=lambda m: (m.row is not None, m.row or 0))

    def to_csv_bytes(
        self,
        *,
        lang: str = "fr",
        headers: Sequence[str] | None = None,
        translate: Callable[[str], str] = lambda s: s,
        column_labels: Mapping[str, str] | None = None,
    ) -> bytes:
        """UTF-8 with BOM, `;`-separated: ligne;colonne;erreur (row;column;error with lang="en").

        `column_labels` turns canonical column names into the headers the user knows. Every
        cell is neutralised against formula injection.
        """
        header = tuple(headers) if headers is not None else _REPORT_HEADERS.get(lang, _REPORT_HEADERS["fr"])
        if len(header) != 3:
            raise ValueError("a report has exactly three columns")
        labels = column_labels or {}
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow([neutralise_formula(h) for h in header])
        for message in self.sorted_messages():
            column = labels.get(message.column, message.column) if message.column else ""
            writer.writerow(
                [
                    "" if message.row is None else str(message.row),
                    neutralise_formula(column),
                    neutralise_formula(message.render(translate)),
                ]
            )
        return buffer.getvalue().encode("utf-8-sig")
