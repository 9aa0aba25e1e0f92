"""scripts/generate-data at a tiny scale: the same seed gives the same files, the files import, and --load fills a
database with every kind of row."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from benchmarks import dataset

TINY = dataset.Scale(organizations=3, spend_lines=400, needs=60, suppliers=12, calls=2, bids=10)


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.csv")}


def test_the_same_seed_writes_the_same_files_and_another_seed_others(tmp_path):
    dataset.write_files(dataset.generate(TINY, seed=5), tmp_path / "a")
    dataset.write_files(dataset.generate(TINY, seed=5), tmp_path / "b")
    dataset.write_files(dataset.generate(TINY, seed=6), tmp_path / "c")
    first, again, other = (_digests(tmp_path / name) for name in "abc")
    assert first == again
    assert set(first) == set(other) and first["spend/all.csv"] != other["spend/all.csv"]
    expected = {"spend/all.csv", *(f"spend/part-{n:02d}.csv" for n in range(1, 11))}
    expected |= {f"{kind}/B{n:02d}.csv" for kind in ("spend", "needs") for n in range(3)}
    assert set(first) == expected


def test_the_files_are_french_and_pass_the_import_checks(tmp_path):
    from app.domain.need_import import parse_needs
    from app.domain.spend_import import parse_spend

    data = dataset.generate(TINY, seed=5)
    dataset.write_files(data, tmp_path)
    codes = {}
    with open(dataset.DATA / "cpv_2008.csv", encoding="utf-8") as handle:
        for line in handle.readlines()[1:]:
            code, digit = line.split(",")[:2]
            codes[code] = digit
    ledger = (tmp_path / "spend" / "all.csv").read_bytes()
    assert ledger.startswith(b"Date;Fournisseur;") and b"," in ledger.split(b"\r\n")[1]
    spend = parse_spend(ledger, "all.csv", known_cpv=codes)
    assert spend.ok, spend.errors[:3]
    assert len(spend.rows) == TINY.spend_lines
    parts = [
        parse_spend((tmp_path / "spend" / f"part-{n:02d}.csv").read_bytes(), "p.csv", known_cpv=codes)
        for n in range(1, 11)
    ]
    assert sum(len(p.rows) for p in parts) == TINY.spend_lines
    needs = parse_needs((tmp_path / "needs" / "B00.csv").read_bytes(), "B00.csv", known_cpv=codes.__contains__)
    assert needs.ok, needs.errors[:3]
    assert len(needs.rows) == (data.needs["organization"] == "B00").sum()


@pytest.mark.parametrize("scale", ["full", "tenth", "hundredth"])
def test_the_named_scales_are_those_of_the_issue(scale):
    divisor = {"full": 1, "tenth": 10, "hundredth": 100}[scale]
    assert dataset.Scale.named(scale) == dataset.Scale(
        20, 1_000_000 // divisor, 100_000 // divisor, 2_000 // divisor, 500 // divisor, 20_000 // divisor
    )


def test_load_fills_a_migrated_database(tmp_path):
    path = tmp_path / "bench.sqlite"
    counts = dataset.load(dataset.generate(TINY, seed=5), f"sqlite:///{path}")
    assert counts["organization"] == 3
    assert counts["supplier_company"] == 12
    assert counts["spend lines"] == TINY.spend_lines and counts["spend_block"] == 3  # one block per organization
    assert 0 < counts["spend_cell"] <= TINY.spend_lines
    assert counts["need"] == 60
    assert counts["call"] == counts["purchase_group"] == 2
    assert counts["bid"] == 10
    assert counts["criterion"] == 3 * TINY.calls  # price, technical, environmental: the call pages rank bids
    assert counts["user_account"] == 2 + 3 + 12
    # The planner has its statistics (ANALYZE) of the tables just filled.
    with sqlite3.connect(path) as connection:
        analyzed = {table for (table,) in connection.execute("SELECT DISTINCT tbl FROM sqlite_stat1")}
    assert {"spend_block", "spend_cell", "need", "bid"} <= analyzed
