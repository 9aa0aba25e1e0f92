import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from app.domain import impact

DATA = Path(__file__).resolve().parents[2] / "app" / "data"


@pytest.fixture(scope="module")
def area():
    return impact.load_metropole()


# --- local share ---------------------------------------------------------------------------------------------


def test_the_metropole_has_its_23_communes_and_their_postcodes(area):
    with open(DATA / "dijon_metropole_communes.csv", encoding="utf-8", newline="") as handle:
        communes = list(csv.DictReader(handle))
    assert len(communes) == 23 and len({c["commune"] for c in communes}) == 23
    assert area.postcodes == {
        "21000", "21110", "21121", "21160", "21240", "21300", "21370", "21560", "21600", "21800", "21850",
    }  # fmt: skip
    assert "21380" not in area.postcodes  # Asnières-lès-Dijon, Messigny… are not members
    assert "bretenière".replace("è", "e") in area.communes["21110"]


@pytest.mark.parametrize(
    ("postcode", "city", "bucket"),
    [
        ("21000", None, "metropole"),
        ("21000", "DIJON CEDEX", "metropole"),
        ("21121", "Fontaine-lès-Dijon", "metropole"),
        ("21850", "St Apollinaire", "metropole"),
        ("21110", "Bretenière", "metropole"),
        ("21110", None, "departement"),  # a shared postcode without a city is only known to be in Côte-d'Or
        ("21121", "Darois", "departement"),  # 21121 also serves Darois, outside the metropole
        ("21121", None, "departement"),  # 21121 without its commune: not counted as inside
        ("21121", "", "departement"),
        ("21121", "FONTAINE LES DIJON", "metropole"),
        ("21121", "Ahuy", "metropole"),
        ("21110", "Genlis", "departement"),  # same postcode, commune outside the metropole
        ("21560", "Arc-sur-Tille", "departement"),
        ("21200", "Beaune", "departement"),
        ("21380", None, "departement"),
        ("25000", "Besançon", "region"),
        ("71100", None, "region"),
        ("90000", None, "region"),
        ("75008", "Paris", "elsewhere"),
        ("97400", None, "elsewhere"),
        (None, None, "unknown"),
        ("", "Dijon", "unknown"),
        ("2100", None, "unknown"),
    ],
)
def test_a_supplier_location_falls_in_one_bucket(area, postcode, city, bucket):
    assert impact.classify_location(postcode, city, area) == bucket


def test_classification_is_vectorised_and_sums_cents_per_bucket(area):
    frame = pd.DataFrame(
        {
            "postcode": ["21000", "21110", "21110", "25000", "75008", None],
            "city": ["Dijon", "Genlis", None, None, None, None],
            "cents": [100_00, 50_00, 25_00, 10_00, 200_00, 15_00],
        }
    )
    buckets = impact.classify_locations(frame["postcode"], frame["city"], area)
    assert list(buckets) == ["metropole", "departement", "departement", "region", "elsewhere", "unknown"]
    share = impact.local_share(buckets, frame["cents"])
    assert share.total == Decimal("400")
    assert share.amounts == {
        "metropole": Decimal("100"),
        "departement": Decimal("75"),
        "region": Decimal("10"),
        "elsewhere": Decimal("200"),
        "unknown": Decimal("15"),
    }
    assert share.share("metropole") == Decimal("0.2500")
    assert share.cumulative("departement") == Decimal("175") and share.cumulative("region") == Decimal("185")
    assert share.known_total == Decimal("385")


def test_an_empty_local_share_has_every_bucket_at_zero():
    share = impact.local_share(pd.Series([], dtype="object"), pd.Series([], dtype="int64"))
    assert share.total == 0 and set(share.amounts) == set(impact.LOCAL_BUCKETS) and share.share("metropole") == 0


def test_local_shares_per_key_are_the_local_share_of_each_key_s_rows():
    keys = pd.Series(["DM", "CHU", "DM", "UB", "DM", "CHU"])
    buckets = pd.Series(["metropole", "unknown", "metropole", "region", "elsewhere", "metropole"])
    cents = pd.Series([100_01, 7_00, 3_33, 12_50, 40_00, 1], dtype="int64")
    overall, per_key = impact.local_shares(keys, buckets, cents)
    assert overall == impact.local_share(buckets, cents) and overall.total == Decimal("162.85")
    assert per_key == {key: impact.local_share(buckets[keys == key], cents[keys == key]) for key in ("DM", "CHU", "UB")}
    assert per_key["UB"].amounts["metropole"] == 0 and per_key["DM"].amounts["metropole"] == Decimal("103.34")
    empty = pd.Series([], dtype="object")
    assert impact.local_shares(empty, empty, pd.Series([], dtype="int64")) == (impact.local_share(empty, empty), {})


def _located(rows):
    """Located sums (organization, cpv_prefix, metropole, uncertain, known, cents), one row per pair."""
    return pd.DataFrame(rows, columns=["organization", "cpv_prefix", *impact.LOCATED_SUMS])


def test_located_spend_sums_each_organization_s_categories_under_each_prefix():
    sums = _located(
        [
            ("DM", "33141", 100_00, 0, 150_00, 200_00),
            ("CHU", "33141", 1_00, 2_00, 3_00, 4_00),
            ("DM", "33100", 10_00, 0, 10_00, 10_00),
            ("DM", "33200", 0, 5_00, 5_00, 7_00),
            ("DM", "34100", 1, 1, 1, 1),
            ("DM", "03111", 0, 0, 0, 0),
        ]
    )
    spend = impact.LocatedSpend.of(sums)
    found = spend.figures(
        [
            ("class", "DM", "3314"),  # 33141 only
            ("group", "DM", "331"),  # 33141 and 33100, not 33200
            ("division", "DM", "33"),  # not 34100
            ("division", "CHU", "33"),
            ("division", "DM", "33"),  # the same organization and prefix: counted once
            ("category", "DM", "33141000"),  # a code: cut to its category
            ("zero", "DM", "03"),  # spend of zero euros: a figure of zeros
            ("none", "DM", "45"),  # no spend under the prefix: no figure
            ("none", "UB", "33"),  # an organization without spend
        ]
    )
    assert set(found) == {"class", "group", "division", "category", "zero"}
    assert found["class"] == found["category"] == impact.LocalFigure(*(Decimal(x) for x in (100, 0, 150, 200)))
    assert found["group"] == impact.LocalFigure(*(Decimal(x) for x in (110, 0, 160, 210)))
    assert found["division"] == impact.LocalFigure(*(Decimal(x) for x in (111, 7, 168, 221)))
    assert found["zero"] == impact.LocalFigure() and found["zero"].local_pct is None


def test_located_spend_gives_the_sums_of_the_rows_under_each_prefix_whatever_their_order():
    """The running totals per organization give what a sum over the matching rows gives."""
    codes = ["03111", "09310", "09311", "09400", "33000", "33141", "33199", "33200", "34000", "39000", "39999"]
    rows = [
        (org, code, (n * 7) % 5 * 100, n % 3, (n * 11) % 13 * 100, (n * 17) % 19 * 100 + 1)
        for n, (org, code) in enumerate((org, code) for code in reversed(codes) for org in ("UB", "DM", "CHU"))
    ]
    spend = impact.LocatedSpend.of(_located(rows))
    prefixes = ["03", "09", "093", "0931", "09310", "0940", "33", "331", "3314", "339", "34", "39", "399", "40"]
    wanted = [(f"{org}:{p}", org, p) for org in ("DM", "CHU", "UB", "XX") for p in prefixes]
    expected = {}
    for key, org, prefix in wanted:
        matching = [r[2:] for r in rows if r[0] == org and r[1].startswith(prefix)]
        if matching:
            expected[key] = impact.figure_of_cents([sum(column) for column in zip(*matching, strict=True)])
    assert spend.figures(wanted) == expected
    assert impact.LocatedSpend.of(_located([])).figures(wanted) == {}


# --- carbon --------------------------------------------------------------------------------------------------


def test_the_shipped_mapping_covers_the_45_divisions_with_existing_categories():
    factors = impact.load_emission_factors()
    mapping = impact.load_default_mapping()
    with open(DATA / "cpv_2008.csv", encoding="utf-8", newline="") as handle:
        divisions = {row["code"][:2] for row in csv.DictReader(handle)}
    assert len(divisions) == 45 and set(mapping) == divisions
    assert {key for key, _ in mapping.values() if key} <= set(factors)
    assert all(note for _, note in mapping.values())  # every choice is explained
    assert mapping["45"][0] == "construction" and mapping["09"][0] is None


def test_the_emission_factors_are_the_shared_ademe_file():
    shipped = (DATA / "emission_factors.csv").read_bytes()
    factors = impact.load_emission_factors()
    assert len(factors) == 35 and factors["construction"].kg_per_keur == Decimal("360")
    assert b"ADEME" in shipped


def test_carbon_arithmetic_is_amount_in_keur_times_the_ratio():
    factors = impact.load_emission_factors()
    estimate = impact.carbon_estimate(
        {"45": Decimal("250000"), "30": Decimal("12345.67"), "09": Decimal("1000000")},
        {"45": "construction", "30": "electrical_and_optical_it_and_office_equipment", "09": None},
        factors,
    )
    lines = {line.division: line for line in estimate.lines}
    assert lines["45"].kg == Decimal("90000")  # 250 k€ × 360 kg/k€
    assert lines["30"].kg == Decimal("4938")  # 12.34567 k€ × 400 = 4938.268 → 4938
    assert lines["09"].kg is None and lines["09"].category is None
    assert estimate.total_kg == Decimal("94938") and estimate.total_tonnes == Decimal("94.9")
    assert estimate.covered_amount == Decimal("262345.67") and estimate.uncovered_amount == Decimal("1000000")
    assert estimate.coverage == Decimal("0.2078")
    assert "not a measured" in estimate.caveat and "ADEME" in estimate.source


def test_an_unknown_category_key_counts_as_not_estimated():
    estimate = impact.carbon_estimate({"45": Decimal("1000")}, {"45": "no_such_key"}, impact.load_emission_factors())
    assert estimate.total_kg == 0 and estimate.uncovered_amount == Decimal("1000")


# --- savings -------------------------------------------------------------------------------------------------


def test_savings_range_uses_the_division_rates_or_the_default():
    assumptions = impact.load_savings_assumptions()
    low, high, used = impact.savings_range(Decimal("1000000"), "3021", assumptions)
    assert (low, high) == (Decimal("50000.00"), Decimal("150000.00")) and used.division == "30"
    low, high, used = impact.savings_range(Decimal("1000000"), "85", assumptions)
    assert used.division == "*" and (low, high) == (Decimal("20000.00"), Decimal("60000.00"))
    low, high, _ = impact.savings_range(Decimal("333.33"), "45", assumptions)
    assert (low, high) == (Decimal("0.00"), Decimal("10.00"))  # 3 % of 333.33 = 9.9999 → 10.00


def test_savings_range_accepts_a_plain_mapping_so_groups_can_pass_their_own():
    mine = {"*": impact.SavingsAssumption("*", Decimal("0.01"), Decimal("0.02"), "test")}
    assert impact.savings_range(Decimal("100"), "09310000", mine)[:2] == (Decimal("1.00"), Decimal("2.00"))
    with pytest.raises(KeyError):
        impact.savings_range(Decimal("100"), "09", {})


def test_the_savings_file_is_checked(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("division,low_rate,high_rate,rationale\n*,0.10,0.05,backwards\n", encoding="utf-8")
    with pytest.raises(ValueError):
        impact.load_savings_assumptions(path)
    path.write_text("division,low_rate,high_rate,rationale\n30,0.01,0.05,no default\n", encoding="utf-8")
    with pytest.raises(ValueError):
        impact.load_savings_assumptions(path)
    shipped = impact.load_savings_assumptions()
    assert all(0 <= a.low_rate <= a.high_rate < 1 and a.rationale for a in shipped.by_division.values())


# --- concentration -------------------------------------------------------------------------------------------


def test_concentration_gives_the_top_supplier_share_and_the_hhi():
    frame = pd.DataFrame(
        {
            "prefix": ["30", "30", "30", "30", "45"],
            "supplier_key": ["A", "B", "A", "", "C"],
            "cents": [60_00, 20_00, 20_00, 500_00, 10_00],
        }
    )
    result = impact.concentration(frame)
    assert result.loc["30", "known_cents"] == 100_00  # the unknown supplier is left out
    assert result.loc["30", "suppliers"] == 2 and result.loc["30", "top_supplier"] == "A"
    assert result.loc["30", "top_share"] == pytest.approx(0.8)
    assert result.loc["30", "hhi"] == 6800  # 80² + 20²
    assert result.loc["45", "hhi"] == 10_000 and result.loc["45", "top_share"] == 1.0


def test_concentration_of_unknown_suppliers_only_is_empty():
    frame = pd.DataFrame({"prefix": ["30"], "supplier_key": [""], "cents": [100]})
    assert impact.concentration(frame).empty
