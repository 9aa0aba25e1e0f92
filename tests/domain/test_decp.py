"""DECP files of every vintage, written for these tests from the official formats (tests/data/decp/), read
leniently: each record counts once at its latest amount, the bad ones are quarantined with row, field and reason,
and what goes in plus what is quarantined is the whole file."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from app.domain.spend_import import detect_format, parse_spend

FILES = Path(__file__).resolve().parents[1] / "data" / "decp"
OFFICIAL_EXAMPLE = FILES / "exemple_marches_avec_modifications.json"  # the official 2.0.3 example
VILLE_DE_DIJON = "21210231300013"


def read(name, check_digits, **kw):
    path = FILES / name
    return parse_spend(path.read_bytes(), path.name, known_cpv=check_digits.get, **kw)


def by_ref(result):
    return {row["source_ref"]: row for row in result.rows}


def quarantined(result):
    return [(q.row, q.source_ref, q.field) for q in result.quarantined]


def reconciles(result, expected_total: Decimal, records: int) -> None:
    """Imported + quarantined = the records of the file, and their amounts (those that are numbers) its total."""
    assert len(result.rows) + len(result.quarantined) == records
    imported = sum((row["amount"] for row in result.rows), Decimal(0))
    left_out = sum((Decimal(q.amount) for q in result.quarantined if q.amount), Decimal(0))
    assert imported + left_out == expected_total


def test_the_1x_json_reads_dates_with_an_offset_nc_durations_and_the_latest_modification(check_digits):
    result = read("decp_1x.json", check_digits)
    assert result.ok and result.format == "decp"
    rows = by_ref(result)
    office = rows["20180042"]
    assert office["spend_date"] == dt.date(2018, 12, 31) and office["duration_months"] is None
    assert office["amount"] == Decimal("45000.50") and office["supplier_siret"] == "49047296600012"
    # Two amendments listed newest first: the latest notified (2019-09-02) gives the amount, counted once.
    assert rows["20190007"]["amount"] == Decimal("131000.00")
    assert rows["20190007"]["spend_date"] == dt.date(2019, 2, 14)
    assert quarantined(result) == [
        (4, "20190011", "codecpv"),
        (5, "20190012", "montant"),
        (6, "20190013", "datenotification"),
        (7, "20190014", "datenotification"),  # a concession: no notification date, CPV code nor amount
    ]
    reasons = {q.source_ref: q.problems[0].render() for q in result.quarantined}
    assert "00000000" in reasons["20190011"] and "greater than zero" in reasons["20190012"]
    # Independently: the file's amounts, each contract at its latest one (the concession has no `montant`).
    payload = json.loads((FILES / "decp_1x.json").read_text(encoding="utf-8"))
    total = Decimal(0)
    for record in payload["marches"]:
        amounts = [
            m["montant"]
            for m in sorted(record.get("modifications", []), key=lambda m: m["dateNotificationModification"])
        ]
        latest = amounts[-1] if amounts else record.get("montant")
        total += Decimal(str(latest)) if latest is not None else 0
    assert total == Decimal("200000.75")
    reconciles(result, total, records=len(payload["marches"]))


def test_the_2_0_json_with_modifications_and_two_suppliers(check_digits):
    result = read("decp_2_0.json", check_digits, buyer_siret=VILLE_DE_DIJON, own_only=True)
    assert result.ok
    rows = by_ref(result)
    lifts = rows["2024DIJ001"]
    assert lifts["amount"] == Decimal("612345.67") and lifts["spend_date"] == dt.date(2024, 5, 15)
    assert lifts["supplier_siret"] == "49047296600012" and lifts["co_contractors"] == "77820805800074"
    assert rows["2024DIJ002"]["amount"] == Decimal("980000.00")
    assert quarantined(result) == [(4, "2024MET003", "acheteur_id")]
    assert result.quarantined[0].problems[0].render().startswith("Another buyer: this record names the buyer 2421")
    reconciles(result, Decimal("612345.67") + Decimal("980000") + Decimal("70000"), records=3)


def test_the_official_2_0_example_counts_each_contract_once_at_its_modified_amount(check_digits):
    data = OFFICIAL_EXAMPLE.read_bytes()
    result = parse_spend(data, OFFICIAL_EXAMPLE.name, known_cpv=check_digits.get)
    assert result.ok and not result.quarantined
    assert [(r["source_ref"], r["amount"]) for r in result.rows] == [
        ("TEST2022", Decimal("123457.87")),
        ("TEST2022Bis", Decimal("123457.87")),
    ]
    own = parse_spend(
        data, OFFICIAL_EXAMPLE.name, known_cpv=check_digits.get, buyer_siret="21750001630066", own_only=True
    )
    assert [r["source_ref"] for r in own.rows] == ["TEST2022"] and quarantined(own) == [
        (3, "TEST2022Bis", "acheteur_id")
    ]


def test_the_dotted_csv_with_one_row_per_supplier(check_digits):
    assert detect_format((FILES / "decp_dotted.csv").read_bytes(), "export.csv") == "decp"
    result = read("decp_dotted.csv", check_digits)
    assert result.ok
    rows = by_ref(result)
    cleaning = rows["2024-001"]
    assert cleaning["amount"] == Decimal("120000.00") and cleaning["description"] == "Nettoyage, lot 1"
    assert cleaning["supplier_siret"] == "49047296600012" and cleaning["co_contractors"] == "77820805800074"
    guarding = rows["2024-002"]
    assert guarding["amount"] == Decimal("85000.50") and guarding["spend_date"] == dt.date(2024, 4, 2)
    assert guarding["duration_months"] is None
    assert quarantined(result) == [(5, "2024-003", "codecpv"), (6, "2024-004", "montant")]
    assert result.quarantined[1].amount == "-250.5"
    # Independently with pandas: one contract per id here, at its last modification's amount when there is one.
    frame = pd.read_csv(FILES / "decp_dotted.csv", dtype=str, keep_default_na=False).drop_duplicates("id")
    latest = frame["modifications.1.montant"].where(frame["modifications.1.montant"] != "", frame["montant"])
    reconciles(result, sum(latest.map(Decimal)), records=len(frame))


def test_the_underscore_csv_with_suppliers_in_columns_or_rows(check_digits):
    result = read("decp_underscore.csv", check_digits)
    assert result.ok
    rows = by_ref(result)
    assert rows["2025-010"]["co_contractors"] == "77820805800074"
    roads = rows["2025-011"]
    assert roads["supplier_siret"] == "32716668200036" and roads["co_contractors"] == "41863343400018"
    assert roads["amount"] == Decimal("250000.10")
    assert rows["2025-013"]["amount"] == Decimal("101500.50")  # montantmodification
    assert quarantined(result) == [(5, "2025-012", "datenotification")]
    assert "2025-13-01" in result.quarantined[0].problems[0].render()
    frame = pd.read_csv(FILES / "decp_underscore.csv", sep=";", dtype=str, keep_default_na=False)
    frame = frame.drop_duplicates([c for c in frame.columns if not c.startswith("titulaire_")])
    latest = frame["montantmodification"].where(frame["montantmodification"] != "CDL", frame["montant"])
    reconciles(result, sum(latest.map(Decimal)), records=len(frame))


@pytest.mark.parametrize(
    "payload",
    [
        {"marches": [{"id": "A", "montant": {"nested": 1}, "titulaires": "x", "modifications": [3, None]}]},
        {"marches": {"marche": [None, "text", 12]}},
    ],
)
def test_records_of_unexpected_shapes_are_quarantined_never_a_crash(check_digits, payload):
    data = json.dumps(payload).encode()
    result = parse_spend(data, "odd.json", known_cpv=check_digits.get)
    assert result.ok and not result.rows
    records = payload["marches"] if isinstance(payload["marches"], list) else payload["marches"]["marche"]
    assert len(result.quarantined) == len(records)
    assert all(q.problems for q in result.quarantined)
