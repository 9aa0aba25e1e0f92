"""Spend lines stored columnar: each import keeps its lines as blocks, one Parquet file per slice of the file read.

A line is never looked up alone: the maps, shares and estimates read the cube (`spend_cell`), and the lines are read
only as whole sets (the lines of an import; the lines of a category in a reader's scope, for the drill-down and its
export). Kept as rows of an indexed table, every line cost the database a heap tuple, three index entries and two
foreign-key checks (at full scale 25x the time `pandas.read_csv` takes to read them); a block costs one row.

A line is recognised in a later file by its fingerprint (the first 16 bytes of a SHA-256 of what makes it itself, see
`app.domain.spend_import.fingerprint`) and its occurrence (0 for the first line of a file with that fingerprint, 1 for
its twin in the same file, ...). `LineKeys` holds the keys of an organization's stored lines, read from the keys
each block keeps packed beside it (the block holds them too), and tells which lines of a slice are already stored:
an exact comparison of the 16 bytes and the occurrence, found through a sorted 64-bit mix of them.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cachetools import LRUCache

from app.domain.spend_import import FINGERPRINT_BYTES, arrow_strings

ROW_GROUP_LINES = 5_000  # a page of the drill-down reads the row groups of its own lines only

# One block: the line's values as the import checked them, the amount in cents (exact, excluding VAT), and its key.
BLOCK_SCHEMA = pa.schema(
    [
        ("spend_date", pa.date32()),
        ("year", pa.int16()),
        ("cpv_code", pa.string()),
        ("amount_cents", pa.int64()),
        ("supplier_siret", pa.string()),
        ("supplier_name", pa.string()),
        ("supplier_postcode", pa.string()),
        ("supplier_city", pa.string()),
        ("co_contractors", pa.string()),
        ("description", pa.string()),
        ("source_ref", pa.string()),
        ("procedure", pa.string()),
        ("duration_months", pa.int32()),
        ("fingerprint", pa.binary(FINGERPRINT_BYTES)),
        ("occurrence", pa.int32()),
    ]
)
# The columns whose values repeat from line to line (a dictionary makes them smaller, and faster to write); the
# amount, the description and the fingerprint mostly differ.
_REPEATING_COLUMNS = [
    field.name for field in BLOCK_SCHEMA if field.name not in ("amount_cents", "description", "fingerprint")
]
_TEXT_COLUMNS = tuple(field.name for field in BLOCK_SCHEMA if field.type == pa.string())
FINGERPRINT = np.dtype(f"V{FINGERPRINT_BYTES}")  # one fingerprint's bytes, as numpy holds them


def fingerprints_of(digests: Iterable[str]) -> np.ndarray:
    """Hexadecimal fingerprints (32 digits each) as an array of their bytes (`FINGERPRINT`)."""
    return np.frombuffer(bytes.fromhex("".join(digests)), dtype=FINGERPRINT)


def fingerprint_array(column: pd.Series | pd.Index) -> np.ndarray:
    """The `fingerprint` column of a `lines_frame` (Arrow fixed-size binary) as an array of its bytes (`FINGERPRINT`),
    without a Python object per line."""
    array = pa.array(column, pa.binary(FINGERPRINT_BYTES))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    data = array.buffers()[1]
    offset = array.offset * FINGERPRINT_BYTES
    return np.frombuffer(data, dtype=FINGERPRINT, count=len(array), offset=offset) if len(array) else _NO_FINGERPRINTS


_NO_FINGERPRINTS = np.empty(0, dtype=FINGERPRINT)


def amount_cents(amounts: pd.Series) -> np.ndarray:
    """Amounts as decimal text with two decimals ("1250.00"), in cents."""
    digits = pc.replace_substring(arrow_strings(amounts), ".", "")
    return pc.cast(digits, pa.int64()).to_numpy()


def encode_lines(lines: pd.DataFrame, cents: np.ndarray) -> bytes:
    """A block from a slice of checked lines (`app.domain.spend_import.lines_frame` columns with `occurrence`) and
    their amounts in cents (`amount_cents`)."""
    columns = {
        "spend_date": arrow_strings(lines["spend_date"]).cast(pa.date32()),
        "year": pa.array(lines["year"].to_numpy(dtype=np.int16)),
        "amount_cents": pa.array(cents),
        **{name: arrow_strings(lines[name]) for name in _TEXT_COLUMNS},
        "duration_months": pa.array(lines["duration_months"].tolist(), pa.int32()),
        "fingerprint": pa.array(lines["fingerprint"], pa.binary(FINGERPRINT_BYTES)),
        "occurrence": pa.array(lines["occurrence"].to_numpy(dtype=np.int32)),
    }
    table = pa.table(columns, schema=BLOCK_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=ROW_GROUP_LINES,
        use_dictionary=_REPEATING_COLUMNS,
        write_statistics=False,  # the drill-down finds its row groups from the sorting columns it keeps, not from these
    )
    return sink.getvalue()


def decode(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """A block's lines (only `columns` when given)."""
    return pq.read_table(io.BytesIO(data), columns=list(columns) if columns is not None else None)


# --------------------------------------------------------------------------- keys of stored lines

_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd constant: occurrences 0, 1, 2 ... move the key far apart


def _halves(fingerprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two 64-bit halves of fingerprints (`FINGERPRINT`)."""
    halves = np.ascontiguousarray(fingerprints).view(">u8").reshape(len(fingerprints), 2).astype(np.uint64)
    return halves[:, 0].copy(), halves[:, 1].copy()


# A block's keys packed for reading without decoding the block: per line, the fingerprint's 16 bytes and the occurrence
# (32-bit little-endian), 20 bytes.
PACKED_KEY = np.dtype([("fingerprint", FINGERPRINT), ("occurrence", "<i4")])


def pack_keys(fingerprints: np.ndarray, occurrences: np.ndarray) -> bytes:
    """Lines' keys packed (`PACKED_KEY`): their fingerprints (`fingerprints_of`) and their occurrences."""
    keys = np.empty(len(occurrences), dtype=PACKED_KEY)
    keys["fingerprint"] = fingerprints
    keys["occurrence"] = occurrences
    return keys.tobytes()


def _mixed(high: np.ndarray, occurrences: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return high ^ (occurrences.astype(np.uint64) * _MIX)


class LineKeys:
    """The keys (fingerprint, occurrence) of lines already stored, to tell which lines of a new slice they hold."""

    def __init__(self, fingerprints: np.ndarray, occurrences: np.ndarray) -> None:
        # The keys stay in their stored order; only their mixed 64 bits are sorted, beside the order that sorts them
        # (any order among equal mixed keys: a look-up compares every one of them). A look-up then gathers the few
        # keys it compares, rather than every stored key being gathered here.
        self.high, self.low = _halves(fingerprints)
        self.occurrences = np.asarray(occurrences, dtype=np.int64)
        mixed = _mixed(self.high, self.occurrences)
        self.order = np.argsort(mixed)
        self.mixed = mixed[self.order]

    @classmethod
    def from_packed(cls, packed: Iterable[bytes]) -> LineKeys:
        """The keys of blocks' lines, from their packed keys (`pack_keys`)."""
        keys = np.frombuffer(b"".join(packed), dtype=PACKED_KEY)
        return cls(keys["fingerprint"], keys["occurrence"])

    def __len__(self) -> int:
        return len(self.mixed)

    def _same(self, at, high, low, occurrences) -> np.ndarray:
        at = self.order[at]
        return (self.high[at] == high) & (self.low[at] == low) & (self.occurrences[at] == occurrences)

    def contains(self, fingerprints: np.ndarray, occurrences: np.ndarray) -> np.ndarray:
        """For each key, whether it is stored (exact: the 16 bytes and the occurrence)."""
        found = np.zeros(len(fingerprints), dtype=bool)
        if not len(self.mixed) or not len(fingerprints):
            return found
        high, low = _halves(fingerprints)
        occurrences = np.asarray(occurrences, dtype=np.int64)
        mixed = _mixed(high, occurrences)
        # Asked in sorted order, the searches walk the stored keys one way (several times faster than in the slice's
        # order, and more so the more keys are stored), then the bounds go back to the slice's order.
        asked = np.argsort(mixed)
        left, right = np.empty(len(mixed), dtype=np.intp), np.empty(len(mixed), dtype=np.intp)
        left[asked] = np.searchsorted(self.mixed, mixed[asked], "left")
        right[asked] = np.searchsorted(self.mixed, mixed[asked], "right")
        single = right - left == 1
        found[single] = self._same(left[single], high[single], low[single], occurrences[single])
        for index in np.flatnonzero(right - left > 1):  # two stored keys mixed to the same 64 bits: compare them all
            span = np.arange(left[index], right[index])
            found[index] = bool(np.any(self._same(span, high[index], low[index], occurrences[index])))
        return found


def _distinct(high: np.ndarray, low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keys given by their two 64-bit halves, sorted (stable: equal keys stay in their order): the order, whether each
    sorted key differs from the one before it, and each sorted key's rank among the distinct keys."""
    order = np.argsort(high, kind="stable")
    sorted_high, sorted_low = high[order], low[order]
    if np.any((sorted_high[1:] == sorted_high[:-1]) & (sorted_low[1:] != sorted_low[:-1])):
        # Two different keys share their first half (rare, or made up on purpose): sorted by both halves. Otherwise
        # the keys sharing a first half are equal, and the sort by first halves is the sort by both, in half the time.
        order = np.lexsort((low, high))
        sorted_high, sorted_low = high[order], low[order]
    high, low = sorted_high, sorted_low
    first = np.ones(len(order), dtype=bool)
    first[1:] = (high[1:] != high[:-1]) | (low[1:] != low[:-1])
    return order, first, np.cumsum(first) - 1


class FingerprintCounts:
    """How many lines of a file so far had each fingerprint, without a Python object per line: sorted runs of
    distinct fingerprints (as their two 64-bit halves, compared exactly) with their counts, 24 bytes per distinct
    fingerprint. A new run is merged into the one before it once it is at least half its size, so a slice is looked
    up in a few runs (about log2 of the slices so far) and each fingerprint is merged about that many times. Runs are
    sorted by the first halves; a look-up sums every stored match of both halves."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def before(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        """The count so far of each of these distinct fingerprints (their halves), 0 for one never seen."""
        total = np.zeros(len(high), dtype=np.int64)
        for run_high, run_low, counts in self.runs:
            left = np.searchsorted(run_high, high, "left")
            right = np.searchsorted(run_high, high, "right")
            single = np.flatnonzero(right - left == 1)
            same = single[run_low[left[single]] == low[single]]
            total[same] += counts[left[same]]
            for index in np.flatnonzero(right - left > 1):  # fingerprints sharing their first 64 bits: look at all
                at = left[index] + np.flatnonzero(run_low[left[index] : right[index]] == low[index])
                total[index] += counts[at].sum()
        return total

    def add(self, high: np.ndarray, low: np.ndarray, counts: np.ndarray) -> None:
        """Count these distinct fingerprints, sorted by their halves, `counts` times more."""
        if not len(high):
            return
        self.runs.append((high, low, counts))
        while len(self.runs) > 1 and 2 * len(self.runs[-1][0]) >= len(self.runs[-2][0]):
            newer, older = self.runs.pop(), self.runs.pop()
            high, low, counts = (np.concatenate([o, n]) for o, n in zip(older, newer, strict=True))
            # two sorted runs: a stable sort on the first halves merges them in linear time; a fingerprint is then
            # kept once, unless another one shares its first 64 bits and lies between (the look-up sums every match)
            order = np.argsort(high, kind="stable")
            high, low, counts = high[order], low[order], counts[order]
            first = np.ones(len(high), dtype=bool)
            first[1:] = (high[1:] != high[:-1]) | (low[1:] != low[:-1])
            self.runs.append((high[first], low[first], np.add.reduceat(counts, np.flatnonzero(first))))


def occurrences(fingerprints: np.ndarray, counts: FingerprintCounts) -> np.ndarray:
    """Each line's occurrence: how many lines with its fingerprint (`FINGERPRINT`) came before it, in the lines
    `counts` has seen and then in these (in their order); `counts` then holds these too."""
    high, low = _halves(fingerprints)
    order, first, rank = _distinct(high, low)
    starts = np.flatnonzero(first)
    within = np.empty(len(order), dtype=np.int64)
    within[order] = np.arange(len(order)) - starts[rank]  # the lines of a fingerprint are sorted in the file's order
    codes = np.empty(len(order), dtype=np.int64)
    codes[order] = rank
    distinct_high, distinct_low = high[order][first], low[order][first]
    result = counts.before(distinct_high, distinct_low)[codes] + within
    counts.add(distinct_high, distinct_low, np.diff(np.append(starts, len(order))))
    return result


# --------------------------------------------------------------------------- lines as the pages show them


@dataclass(frozen=True)
class StoredLine:
    """One past purchase as stored: an invoice or payment line, or a DECP contract record (its declared value)."""

    organization_id: int
    import_id: int
    spend_date: date
    year: int
    cpv_code: str
    amount: Decimal
    supplier_siret: str | None
    supplier_name: str | None
    supplier_postcode: str | None
    supplier_city: str | None
    co_contractors: str | None
    description: str
    source_ref: str | None
    procedure: str | None
    duration_months: int | None
    occurrence: int

    @property
    def supplier_label(self) -> str:
        return self.supplier_name or self.supplier_siret or ""


def stored_lines(table: pa.Table, organization_id: int, import_id: int) -> list[StoredLine]:
    """The lines of a decoded block (or of rows taken from it)."""
    values = {name: table.column(name).to_pylist() for name in table.column_names if name != "fingerprint"}
    cents = values.pop("amount_cents")
    return [
        StoredLine(
            organization_id=organization_id,
            import_id=import_id,
            amount=Decimal(amount).scaleb(-2),
            **{name: column[index] for name, column in values.items()},
        )
        for index, amount in enumerate(cents)
    ]


def prefix_mask(table: pa.Table, prefix: str, year: int | None) -> pa.Array:
    """Which lines of a block are below a CPV prefix (and of a year, when given)."""
    mask = pc.starts_with(table.column("cpv_code"), prefix)
    if year is not None:
        mask = pc.and_(mask, pc.equal(table.column("year"), year))
    return mask


@dataclass(frozen=True)
class Block:
    """A stored block as listed: its id, import and organization (its bytes are read when needed)."""

    id: int
    import_id: int
    organization_id: int


FILTER_COLUMNS = ["cpv_code", "year", "amount_cents"]
FILTERS_BYTES = 64 * 2**20
BLOCKS_BYTES = 64 * 2**20
# The drill-down's columns of each block read so far, and blocks' bytes, by block id: a block is never changed (an
# import writes its blocks once, a rollback deletes them and their ids are never drawn again), so what is kept is
# never stale. At full scale (1,000,000 lines) the columns take 22 MB and the blocks 33 MB.
_filters: LRUCache = LRUCache(maxsize=FILTERS_BYTES, getsizeof=lambda table: table.nbytes)
_blocks: LRUCache = LRUCache(maxsize=BLOCKS_BYTES, getsizeof=len)
_lock = threading.Lock()


def _through(cache: LRUCache, ids: list[int], load: Callable[[list[int]], dict]) -> dict:
    """What `cache` keeps for `ids`, the others loaded (`load(missing)`: by id) and kept. An id `load` does not find
    (a block deleted since it was listed: its import rolled back) is left out."""
    with _lock:
        found = {block_id: value for block_id in ids if (value := cache.get(block_id)) is not None}
    missing = [block_id for block_id in ids if block_id not in found]
    if missing:
        fresh = load(missing)
        with _lock:
            for block_id, value in fresh.items():
                with contextlib.suppress(ValueError):  # cachetools: larger than the whole cache
                    cache[block_id] = value
        found.update(fresh)
    return found


def _take(data: bytes, positions: np.ndarray) -> pa.Table:
    """The lines of a block at `positions` (ascending), reading only the row groups that hold them."""
    file = pq.ParquetFile(io.BytesIO(data))
    sizes = [file.metadata.row_group(group).num_rows for group in range(file.num_row_groups)]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    groups = np.searchsorted(starts, positions, "right") - 1
    read = np.unique(groups)
    table = file.read_row_groups(read.tolist())
    read_starts = np.concatenate(([0], np.cumsum([sizes[group] for group in read.tolist()])))
    within = positions - starts[groups] + read_starts[np.searchsorted(read, groups)]
    return table.take(pa.array(within))


class LineSelection(Sequence):
    """The lines of some blocks below a CPV prefix (and of a year), largest amount first (ties in block and file
    order). Sorting reads three columns of each block (kept in memory by block id); a slice reads the row groups
    that hold its own lines. `read(ids)` gives the bytes of the blocks it finds, by id: a block deleted meanwhile
    (its import rolled back) leaves the selection without its lines."""

    def __init__(
        self, blocks: Iterable[Block], read: Callable[[list[int]], dict[int, bytes]], prefix: str, year: int | None
    ) -> None:
        self.read = read
        listed = sorted(blocks, key=lambda block: block.id)
        columns = _through(
            _filters,
            [block.id for block in listed],
            lambda ids: {block_id: decode(data, FILTER_COLUMNS) for block_id, data in self._bytes(ids).items()},
        )
        self.blocks = [block for block in listed if block.id in columns]
        parts = []
        for number, block in enumerate(self.blocks):
            table = columns[block.id]
            positions = np.flatnonzero(prefix_mask(table, prefix, year).to_numpy(zero_copy_only=False))
            cents = table.column("amount_cents").to_numpy()[positions]
            parts.append((np.full(len(positions), number, dtype=np.int64), positions, cents))
        if parts:
            numbers, positions, cents = (np.concatenate(column) for column in zip(*parts, strict=True))
        else:
            numbers = positions = cents = np.zeros(0, dtype=np.int64)
        order = np.lexsort((positions, numbers, -cents))
        self.numbers, self.positions = numbers[order], positions[order]

    def _bytes(self, ids: list[int]) -> dict[int, bytes]:
        return _through(_blocks, ids, self.read)

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self):
        return iter(self[:])  # the lines decoded together, not one at a time

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1 or None][0]
        numbers, positions = self.numbers[index], self.positions[index]
        wanted = np.unique(numbers).tolist()
        data = self._bytes([self.blocks[number].id for number in wanted])
        found: dict[tuple[int, int], StoredLine] = {}
        for number in wanted:
            block = self.blocks[number]
            if block.id not in data:  # rolled back since the selection was made: its lines are gone
                continue
            at = np.sort(positions[numbers == number])
            lines = stored_lines(_take(data[block.id], at), block.organization_id, block.import_id)
            found.update(((number, int(p)), line) for p, line in zip(at.tolist(), lines, strict=True))
        keys = zip(numbers.tolist(), positions.tolist(), strict=True)
        return [found[key] for key in keys if key in found]
