"""DECP open data of every published vintage, read into one flattened record per contract.

The "données essentielles de la commande publique" have been published in several layouts; all are read, the
layout detected from the content:

* the 1.x JSON: `{"marches": [...]}`, nested `acheteur.id` and `titulaires[]`, dates that may carry an offset
  (`2018-12-31+01:00`, the offset is dropped: the date is the one written), `dureeMois` "NC" (not communicated,
  read as empty);
* the 2.0 JSON: `{"marches": {"marche": [...]}}`, each supplier wrapped as `{"titulaire": {...}}` and each
  modification as `{"modification": {...}}`;
* a plain JSON list of flattened records;
* the flattened CSV layouts, `;` or `,` separated, with underscore (`titulaire_id_1`, `acheteur_id`) or dotted
  (`titulaires.0.id`, `acheteur.id`, `modifications.0.montant`) column names, and either one column per supplier
  or one row per supplier: consecutive rows equal in every field but the supplier's are one contract.

A contract counts once, at its latest amount: the amount of its latest modification that gives one (the latest
notified, else the last listed; in the flattened CSV `montantmodification` or `modifications.N.montant`), else its
initial `montant`. Every record comes out as `(row, {field: text})` with the fields of `FIELDS`; the row is the
spreadsheet row of the record's first line (header = row 1) or, for JSON, the record's position + 1 (the first
record is row 2), as the other imports number rows. Checking the values is the spend import's business
(app/domain/spend_import.py); here nothing is refused but a file that cannot be read at all (TableError).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.domain.tabular import Message, TableError, read_table_chunks
from app.domain.text import N_

__all__ = ["FIELDS", "REQUIRED", "SUPPLIERS", "looks_like_json", "read_records"]

SUPPLIERS = 3  # suppliers kept per contract (the first is the line's supplier, the others co-contractors)
MODIFICATIONS = 20  # flattened modification columns read (modifications.0 ... modifications.19)

FIELDS = (
    "id",
    "acheteur_id",
    "nature",
    "objet",
    "codecpv",
    "procedure",
    *(f"titulaire_{part}_{n}" for n in range(1, SUPPLIERS + 1) for part in ("id", "typeidentifiant")),
    "dureemois",
    "datenotification",
    "montant",
)
REQUIRED = ("codecpv", "montant", "datenotification", "titulaire_id_1")
_SUPPLIER_FIELDS = frozenset(name for name in FIELDS if name.startswith("titulaire_"))
NOT_COMMUNICATED = frozenset({"nc", "n/c", "non communiqué", "non communique"})
_DATE_WITH_TIME_OR_OFFSET = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def looks_like_json(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"[", b"{")


# --------------------------------------------------------------------------- CSV column names


def _csv_aliases() -> dict[str, tuple[str, ...]]:
    """Every column name read, per canonical field: the underscore names and their dotted twins."""
    aliases: dict[str, tuple[str, ...]] = {name: (name,) for name in FIELDS}
    aliases["acheteur_id"] = ("acheteur_id", "acheteur.id")
    aliases["codecpv"] = ("codecpv", "codeCPV")
    aliases["datenotification"] = ("datenotification", "dateNotification")
    aliases["dureemois"] = ("dureemois", "dureeMois")
    for n in range(1, SUPPLIERS + 1):
        index = n - 1
        ids = [f"titulaires.{index}.id", f"titulaires.{index}.titulaire.id"]
        kinds = [f"titulaires.{index}.typeIdentifiant", f"titulaires.{index}.titulaire.typeIdentifiant"]
        if n == 1:  # one row per supplier: an unnumbered supplier column
            ids += ["titulaire_id", "titulaire.id"]
            kinds += ["titulaire_typeidentifiant", "titulaire.typeIdentifiant"]
        aliases[f"titulaire_id_{n}"] = (f"titulaire_id_{n}", *ids)
        aliases[f"titulaire_typeidentifiant_{n}"] = (f"titulaire_typeidentifiant_{n}", *kinds)
    aliases["montantmodification"] = ("montantmodification", "montant_modification")
    for index in range(MODIFICATIONS):
        aliases[f"modification_montant_{index}"] = (
            f"modifications.{index}.montant",
            f"modifications.{index}.modification.montant",
        )
    return aliases


_ALIASES = _csv_aliases()
_UNRECOGNISED = "Column “%(header)s” is not recognised and was ignored."


# --------------------------------------------------------------------------- values


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _plain_date(text: str) -> str:
    """`2018-12-31+01:00`, `2018-12-31T00:00:00Z` -> `2018-12-31`; anything else is left for the checks."""
    match = _DATE_WITH_TIME_OR_OFFSET.fullmatch(text.strip())
    return match.group(1) if match else text


def _normalise(flat: dict[str, str], modification_amounts: list[str]) -> dict[str, str]:
    """Dates without their offset, "NC" as empty, the amount of the latest modification that gives one."""
    for name, text in flat.items():
        if text.strip().lower() in NOT_COMMUNICATED:
            flat[name] = ""
    flat["datenotification"] = _plain_date(flat["datenotification"])
    given = [amount for amount in modification_amounts if amount and amount.strip().lower() not in NOT_COMMUNICATED]
    given = [amount for amount in given if amount.strip().lower() != "cdl"]
    if given:
        flat["montant"] = given[-1]
    return flat


# --------------------------------------------------------------------------- JSON


def _unwrap(item: Any, key: str) -> Any:
    """The 2.0 JSON wraps list items: {"titulaire": {...}}, {"modification": {...}}."""
    if isinstance(item, dict) and isinstance(item.get(key), dict):
        return item[key]
    return item


def _json_records(payload: Any) -> list | None:
    if isinstance(payload, dict):
        payload = payload.get("marches", payload.get("records"))
        if isinstance(payload, dict):  # 2.0: {"marches": {"marche": [...]}}
            payload = payload.get("marche")
    if not isinstance(payload, list):
        return None
    return payload


def _latest_modification_amounts(modifications: Any) -> list[str]:
    """The amounts given by the modifications, oldest first (ordered by notification date when all have one)."""
    if not isinstance(modifications, list):
        return []
    items = [_unwrap(item, "modification") for item in modifications]
    items = [item for item in items if isinstance(item, dict)]
    dates = [_plain_date(_text_of(item.get("dateNotificationModification"))) for item in items]
    if all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) for day in dates):
        items = [item for _, _, item in sorted(zip(dates, range(len(items)), items, strict=True))]
    return [_text_of(item.get("montant")) for item in items]


def _flatten_json(record: Any) -> dict[str, str]:
    """A flattened record from a 1.x or 2.0 nested record, or from an already flattened one."""
    if not isinstance(record, dict):
        return dict.fromkeys(FIELDS, "")
    lower = {str(key).lower(): value for key, value in record.items()}
    flat = {name: _text_of(lower.get(name)) if not isinstance(lower.get(name), dict | list) else "" for name in FIELDS}
    for buyer in ("acheteur", "autoriteconcedante"):  # a 1.x concession names its buyer "autoriteConcedante"
        if not flat["acheteur_id"] and isinstance(lower.get(buyer), dict):
            flat["acheteur_id"] = _text_of(lower[buyer].get("id"))
    holders = lower.get("titulaires")
    if isinstance(holders, list):
        for n, holder in enumerate(holders[:SUPPLIERS], start=1):
            holder = _unwrap(holder, "titulaire")
            if isinstance(holder, dict) and not flat[f"titulaire_id_{n}"]:
                flat[f"titulaire_id_{n}"] = _text_of(holder.get("id"))
                flat[f"titulaire_typeidentifiant_{n}"] = _text_of(holder.get("typeIdentifiant"))
    amounts = _latest_modification_amounts(lower.get("modifications"))
    if not amounts and lower.get("montantmodification") is not None:
        amounts = [_text_of(lower.get("montantmodification"))]
    return _normalise(flat, amounts)


def _read_json(data: bytes, filename: str, chunk_rows: int):
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise TableError(
            [Message(None, None, N_("The file “%(filename)s” is not valid JSON."), {"filename": filename})]
        ) from None
    records = _json_records(payload)
    if records is None:
        raise TableError(
            [
                Message(
                    None,
                    None,
                    N_("The JSON file “%(filename)s” holds no list of DECP records (expected a list or “marches”)."),
                    {"filename": filename},
                )
            ]
        )
    numbered = [(number, _flatten_json(record)) for number, record in enumerate(records, start=2)]
    return (numbered[start : start + chunk_rows] for start in range(0, len(numbered), chunk_rows))


# --------------------------------------------------------------------------- CSV


def _flatten_csv(cells: dict[str, str]) -> dict[str, str]:
    flat = {name: cells.get(name, "") for name in FIELDS}
    amounts = [cells.get(f"modification_montant_{index}", "") for index in range(MODIFICATIONS)]
    amounts.append(cells.get("montantmodification", ""))
    return _normalise(flat, amounts)


def _contract_key(flat: dict[str, str]) -> tuple:
    return tuple(text for name, text in flat.items() if name not in _SUPPLIER_FIELDS)


def _suppliers(flat: dict[str, str]) -> list[tuple[str, str]]:
    pairs = [(flat[f"titulaire_id_{n}"], flat[f"titulaire_typeidentifiant_{n}"]) for n in range(1, SUPPLIERS + 1)]
    return [(identifier, kind) for identifier, kind in pairs if identifier and identifier.lower() != "cdl"]


def _merge_supplier(record: dict[str, str], flat: dict[str, str]) -> None:
    """Add the suppliers of a repeated row to its contract (up to SUPPLIERS, each once)."""
    known = _suppliers(record)
    for pair in _suppliers(flat):
        if pair not in known and len(known) < SUPPLIERS:
            known.append(pair)
    for n in range(1, SUPPLIERS + 1):
        identifier, kind = known[n - 1] if n <= len(known) else ("", "")
        record[f"titulaire_id_{n}"], record[f"titulaire_typeidentifiant_{n}"] = identifier, kind


def _group_rows(frames) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Slices of contracts from slices of rows: consecutive rows with the same contract fields (all but the
    supplier's) are one contract, also across slices."""
    pending: tuple[int, dict[str, str], tuple] | None = None
    for frame in frames:
        out: list[tuple[int, dict[str, str]]] = []
        for row, cells in frame.to_dict("index").items():
            flat = _flatten_csv(cells)
            key = _contract_key(flat)
            if pending is not None and pending[2] == key:
                _merge_supplier(pending[1], flat)
                continue
            if pending is not None:
                out.append(pending[:2])
            pending = (int(row), flat, key)
        yield out
    if pending is not None:
        yield [pending[:2]]


def _read_csv(source, filename: str, chunk_rows: int):
    table = read_table_chunks(source, filename, required=REQUIRED, aliases=_ALIASES, chunk_rows=chunk_rows)
    # The dataset has about sixty fields; the ones Mutualis does not use are not worth a remark each.
    notes = [note for note in table.notes if note.message != _UNRECOGNISED]
    ignored = len(table.notes) - len(notes)
    if ignored:
        notes.append(
            Message(None, None, N_("%(count)s other DECP field(s) are not used by Mutualis."), {"count": ignored})
        )
    return _group_rows(table.chunks), notes


def read_records(source: bytes | str | Path, filename: str, chunk_rows: int):
    """(slices of (row, flattened record), notes) for a DECP file of any vintage (bytes or a path); TableError when
    the file cannot be read. A JSON file is read whole; a CSV file a slice at a time."""
    data = source if isinstance(source, bytes) else None
    if data is None:
        with open(source, "rb") as handle:
            head = handle.read(64)
    else:
        head = data[:64]
    if looks_like_json(head):
        if data is None:
            data = Path(source).read_bytes()
        return _read_json(data, filename, chunk_rows), []
    return _read_csv(source, filename, chunk_rows)
