"""Impact figures computed from spend aggregates: local share, a spend-based carbon estimate, savings ranges and
supplier concentration. Pure functions on plain values and pandas frames; no Flask, no database.

Money is Decimal euros (or integer cents inside frames), never float. Every estimate carries its assumptions so
that a page can show them beside the figure.
"""

from __future__ import annotations

import csv
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from app.domain.text import N_, fold

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CENT = Decimal("0.01")

# --------------------------------------------------------------------------- local share

LOCAL_BUCKETS = ("metropole", "departement", "region", "elsewhere", "unknown")
BUCKET_LABELS = {
    "metropole": N_("Dijon Métropole (23 communes)"),
    "departement": N_("Rest of Côte-d'Or (21)"),
    "region": N_("Rest of Bourgogne-Franche-Comté"),
    "elsewhere": N_("Elsewhere"),
    "unknown": N_("Unknown location"),
}
DEPARTEMENT = "21"
REGION_DEPARTEMENTS = frozenset({"21", "25", "39", "58", "70", "71", "89", "90"})  # Bourgogne-Franche-Comté


@dataclass(frozen=True)
class MetropoleArea:
    """The 23 communes of Dijon Métropole by postcode, with the other communes of Côte-d'Or that share them.

    `shared` holds the postcodes that also serve communes outside the metropole (21121 is Fontaine-lès-Dijon but
    also Darois; 21110 is Bretenière and Magny-sur-Tille but also Genlis): for those, a known commune decides;
    without one the location is uncertain — counted in the rest of the département, never as inside the
    metropole, and reported as uncertain (see app/data/SOURCES.md).
    """

    communes: dict[str, frozenset[str]]  # postcode -> folded names of its member communes
    shared: frozenset[str]
    outside: dict[str, frozenset[str]] = field(default_factory=dict)  # shared postcode -> its other communes
    insee: dict[str, str] = field(default_factory=dict)  # folded member commune name -> INSEE code

    @property
    def postcodes(self) -> frozenset[str]:
        return frozenset(self.communes)


def _commune_key(name: str) -> str:
    """'ST-APOLLINAIRE CEDEX' and 'Saint Apollinaire' -> 'saint apollinaire'."""
    text = fold(name).replace("-", " ").replace("'", " ")
    words = [w for w in text.split() if w != "cedex" and not w.isdigit()]
    return " ".join("saint" if w == "st" else "sainte" if w == "ste" else w for w in words)


COMMUNES_FILE = "cote_dor_communes_postcodes.csv"


def load_metropole(path: Path | None = None) -> MetropoleArea:
    """From the official list of the communes of Côte-d'Or and their postcodes (INSEE code, name, postcode,
    `dijon_metropole` yes/no): a postcode is shared when it serves member and non-member communes."""
    inside: dict[str, set[str]] = {}
    others: dict[str, set[str]] = {}
    insee: dict[str, str] = {}
    with open(path or DATA_DIR / COMMUNES_FILE, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            key = _commune_key(row["commune"])
            if row["dijon_metropole"].strip().lower() == "yes":
                inside.setdefault(row["postcode"], set()).add(key)
                insee[key] = row["insee_code"]
            else:
                others.setdefault(row["postcode"], set()).add(key)
    shared = frozenset(code for code in inside if code in others)
    return MetropoleArea(
        {k: frozenset(v) for k, v in inside.items()},
        shared,
        {k: frozenset(others[k]) for k in shared},
        insee,
    )


@dataclass(frozen=True)
class Location:
    bucket: str
    uncertain: bool = False  # a shared postcode whose commune is unknown (or not one of the postcode's communes)
    insee_code: str | None = None  # the member commune, when resolved inside the metropole


def locate(postcode: str | None, city: str | None, area: MetropoleArea) -> Location:
    """The local-share bucket of one supplier location (exclusive buckets: metropole, then the rest of the
    département, then the rest of the region, elsewhere, unknown), resolved by commune on shared postcodes."""
    code = (postcode or "").strip()
    if len(code) != 5 or not code.isdigit():
        return Location("unknown")
    commune = _commune_key(city) if (city or "").strip() else ""
    if code in area.communes:
        if code not in area.shared:
            names = area.communes[code]
            only = next(iter(names)) if len(names) == 1 else commune
            return Location("metropole", insee_code=area.insee.get(commune if commune in names else only))
        if commune in area.communes[code]:
            return Location("metropole", insee_code=area.insee.get(commune))
        return Location("departement", uncertain=commune not in area.outside.get(code, frozenset()))
    departement = code[:2]
    if departement == DEPARTEMENT:
        return Location("departement")
    if departement in REGION_DEPARTEMENTS:
        return Location("region")
    return Location("elsewhere")


def classify_location(postcode: str | None, city: str | None, area: MetropoleArea) -> str:
    """The bucket only (see `locate`)."""
    return locate(postcode, city, area).bucket


def _distinct_locations(postcodes: pd.Series, cities: pd.Series) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Each row's number among the distinct (postcode, city) pairs (None read as empty), and those pairs in order:
    each column factorised, then the pairs of numbers (no tuple per row)."""
    postcode_codes, postcode_values = pd.factorize(postcodes.fillna("").to_numpy(dtype=object))
    city_codes, city_values = pd.factorize(cities.fillna("").to_numpy(dtype=object))
    width = max(len(city_values), 1)
    codes, pairs = pd.factorize(postcode_codes.astype(np.int64) * width + city_codes)
    return codes, [(postcode_values[pair // width], city_values[pair % width]) for pair in pairs.tolist()]


def classify_locations(postcodes: pd.Series, cities: pd.Series, area: MetropoleArea) -> pd.Series:
    """Vectorised over aggregates: classify each distinct (postcode, city) pair once, then map."""
    codes, pairs = _distinct_locations(postcodes, cities)
    buckets = np.array([classify_location(p, c, area) for p, c in pairs] or [""], dtype=object)
    return pd.Series(buckets[codes], index=postcodes.index, dtype="object")


@dataclass(frozen=True)
class LocalShare:
    amounts: dict[str, Decimal]  # bucket -> euros
    total: Decimal

    def share(self, bucket: str) -> Decimal:
        """Fraction of the total (0..1), to 4 decimals."""
        if not self.total:
            return Decimal(0)
        return (self.amounts.get(bucket, Decimal(0)) / self.total).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    def cumulative(self, bucket: str) -> Decimal:
        """Euros in the bucket and the ones nested in it: département includes the metropole, etc."""
        order = ("metropole", "departement", "region")
        if bucket not in order:
            return self.amounts.get(bucket, Decimal(0))
        return sum((self.amounts.get(b, Decimal(0)) for b in order[: order.index(bucket) + 1]), Decimal(0))

    @property
    def known_total(self) -> Decimal:
        return self.total - self.amounts.get("unknown", Decimal(0))


def local_share(buckets: pd.Series, cents: pd.Series) -> LocalShare:
    """Sum integer cents per bucket; every bucket is present (zero when empty)."""
    sums = cents.groupby(buckets).sum() if len(cents) else pd.Series(dtype="int64")
    return _local_share_of_sums(sums)


def _local_share_of_sums(sums) -> LocalShare:
    amounts = {b: Decimal(int(sums.get(b, 0))) / 100 for b in LOCAL_BUCKETS}
    return LocalShare(amounts=amounts, total=sum(amounts.values(), Decimal(0)))


def local_shares(keys: pd.Series, buckets: pd.Series, cents: pd.Series) -> tuple[LocalShare, dict[str, LocalShare]]:
    """The local share over every row and per key (an organization), from one sum of integer cents per key and
    bucket (as local_share over each key's rows, without a pass over the rows per key)."""
    if not len(cents):
        return local_share(buckets, cents), {}
    table = cents.groupby([keys, buckets]).sum().unstack(fill_value=0)
    per_key = {key: _local_share_of_sums(row) for key, row in table.iterrows()}
    return _local_share_of_sums(table.sum(axis=0)), per_key


def locate_locations(postcodes: pd.Series, cities: pd.Series, area: MetropoleArea) -> pd.DataFrame:
    """`bucket` and `uncertain` per row, each distinct (postcode, city) pair located once."""
    codes, pairs = _distinct_locations(postcodes, cities)
    located = [locate(p, c, area) for p, c in pairs]
    buckets = np.array([x.bucket for x in located] or [""], dtype=object)
    uncertain = np.array([x.uncertain for x in located] or [False], dtype=bool)
    return pd.DataFrame({"bucket": buckets[codes], "uncertain": uncertain[codes]}, index=postcodes.index)


PCT = Decimal("0.1")


@dataclass(frozen=True)
class LocalFigure:
    """The local share of some spend: euros inside the metropole over euros whose location is known."""

    metropole: Decimal = Decimal(0)
    uncertain: Decimal = Decimal(0)  # at a shared postcode without a known commune (not counted inside)
    known: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    def _pct(self, amount: Decimal) -> Decimal | None:
        if not self.known:
            return None
        return (amount * 100 / self.known).quantize(PCT, ROUND_HALF_UP)

    @property
    def local_pct(self) -> Decimal | None:
        return self._pct(self.metropole)

    @property
    def uncertain_pct(self) -> Decimal | None:
        return self._pct(self.uncertain)


LOCATED_SUMS = ("metropole", "uncertain", "known", "cents")


def located_sums(groups: pd.DataFrame, postcodes: pd.Series, cities: pd.Series, cents: pd.Series, area) -> pd.DataFrame:
    """Aggregated spend rows (integer cents at a postcode and city) summed per row of `groups` (its columns the
    grouping keys): the cents inside the metropole, at an uncertain postcode, at a known location, and in all
    (LOCATED_SUMS), one row per distinct key."""
    located = locate_locations(postcodes, cities, area)
    amounts = cents.astype("int64").to_numpy()
    frame = groups.reset_index(drop=True).assign(
        metropole=np.where((located["bucket"] == "metropole").to_numpy(), amounts, 0),
        uncertain=np.where(located["uncertain"].to_numpy(dtype=bool), amounts, 0),
        known=np.where((located["bucket"] != "unknown").to_numpy(), amounts, 0),
        cents=amounts,
    )
    return frame.groupby(list(groups.columns), as_index=False, sort=False)[list(LOCATED_SUMS)].sum()


def figures_of_sums(keys: pd.Series, sums: pd.DataFrame) -> dict:
    """key -> LocalFigure, from located sums (LOCATED_SUMS columns) of rows belonging to `keys`."""
    if sums.empty:
        return {}
    totals = sums[list(LOCATED_SUMS)].groupby(keys.to_numpy()).sum()
    return {
        key: figure_of_cents(values)
        for key, values in zip(totals.index, totals.itertuples(index=False, name=None), strict=True)
    }


def figure_of_cents(sums) -> LocalFigure:
    """The LocalFigure of located sums in integer cents, in the order of LOCATED_SUMS."""
    return LocalFigure(*(Decimal(int(value)) / 100 for value in sums))


SPEND_PREFIX_DIGITS = 5  # past spend is located per CPV category


def _after(prefix: str) -> str:
    """The first string after every string that starts with `prefix` (not empty): '331' -> '332'."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, eq=False)
class LocatedSpend:
    """Located sums of past spend (LOCATED_SUMS, integer cents) per organization and CPV category, indexed for the
    spend under any prefix: the rows in order of organization and category, with the running totals of their sums,
    so that the spend of an organization under a prefix is the difference of two running totals, its rows found by
    bisection. A lookup for a few organizations and prefixes touches only their rows."""

    categories: Mapping[str, tuple[int, list[str]]]  # organization -> (its first row, its categories in order)
    running: np.ndarray  # the running totals of the rows' sums, from a row of zeros: one row more than the rows

    @classmethod
    def of(cls, sums: pd.DataFrame) -> LocatedSpend:
        """From located sums with columns organization, cpv_prefix (5 digits) and LOCATED_SUMS, one row per pair."""
        pairs = list(zip(sums["organization"].tolist(), sums["cpv_prefix"].tolist(), strict=True))
        order = sorted(range(len(pairs)), key=pairs.__getitem__)
        values = sums[list(LOCATED_SUMS)].to_numpy(dtype="int64").reshape(-1, len(LOCATED_SUMS))[order]
        running = np.vstack([np.zeros((1, len(LOCATED_SUMS)), dtype="int64"), values.cumsum(axis=0)])
        categories: dict[str, tuple[int, list[str]]] = {}
        for row, position in enumerate(order):
            organization, category = pairs[position]
            categories.setdefault(organization, (row, []))[1].append(category)
        return cls(categories, running)

    def figures(self, wanted: Iterable[tuple[object, str, str]]) -> dict:
        """key -> LocalFigure: the spend of each organization under each prefix, summed per key, from
        `(key, organization, prefix)`; a prefix is cut to the categories' 5 digits and each distinct triple counted
        once. A key without spend under its prefixes has no figure."""
        keys, firsts, lasts = [], [], []
        for key, organization, prefix in dict.fromkeys((k, o, p[:SPEND_PREFIX_DIGITS]) for k, o, p in wanted):
            found = self.categories.get(organization)
            if found is None:
                continue
            start, categories = found
            first = bisect_left(categories, prefix)
            last = bisect_left(categories, _after(prefix), first) if prefix else len(categories)
            if last > first:
                keys.append(key)
                firsts.append(start + first)
                lasts.append(start + last)
        positions = {key: position for position, key in enumerate(dict.fromkeys(keys))}
        sums = np.zeros((len(positions), len(LOCATED_SUMS)), dtype="int64")
        np.add.at(sums, [positions[key] for key in keys], self.running[lasts] - self.running[firsts])
        return {key: figure_of_cents(values) for key, values in zip(positions, sums.tolist(), strict=True)}


def local_figures(keys: pd.Series, postcodes: pd.Series, cities: pd.Series, cents: pd.Series, area) -> dict:
    """key -> LocalFigure, from aggregated spend rows (one per key × postcode × city, integer cents)."""
    if not len(cents):
        return {}
    sums = located_sums(pd.DataFrame({"key": keys.to_numpy()}), postcodes, cities, cents, area)
    return figures_of_sums(sums["key"], sums)


# --------------------------------------------------------------------------- carbon

CARBON_SOURCE = N_(
    "ADEME Base Carbone monetary emission ratios (older CPA-based set, kgCO2e per k€ excluding VAT), as republished "
    "by memobank/carbon-footprint; CPV division → category mapping by Mutualis (our own judgement)."
)
CARBON_CAVEAT = N_(
    "Order of magnitude only: a spend-based estimate multiplies euros by an average emission ratio of the product "
    "category. It is not a measured footprint, ignores what was actually bought and from whom, and the ratios "
    "date from an older ADEME set. Use it to compare categories, not to report emissions."
)


@dataclass(frozen=True)
class EmissionFactor:
    key: str
    label_fr: str
    label_en: str
    kg_per_keur: Decimal
    source: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr


def load_emission_factors(path: Path | None = None) -> dict[str, EmissionFactor]:
    with open(path or DATA_DIR / "emission_factors.csv", encoding="utf-8", newline="") as handle:
        return {
            row["category_key"]: EmissionFactor(
                row["category_key"], row["label_fr"], row["label_en"], Decimal(row["kgco2e_per_keur"]), row["source"]
            )
            for row in csv.DictReader(handle)
        }


def load_default_mapping(path: Path | None = None) -> dict[str, tuple[str | None, str]]:
    """division -> (category key or None, note), as shipped in cpv_division_emission_category.csv."""
    with open(path or DATA_DIR / "cpv_division_emission_category.csv", encoding="utf-8", newline="") as handle:
        return {row["division"]: (row["category_key"] or None, row["note"]) for row in csv.DictReader(handle)}


def emissions_kg(amount: Decimal, kg_per_keur: Decimal) -> Decimal:
    """kgCO2e for an amount in euros HT: amount / 1000 × ratio, to the kilogram (half up)."""
    return (Decimal(amount) * Decimal(kg_per_keur) / 1000).quantize(Decimal(1), ROUND_HALF_UP)


@dataclass(frozen=True)
class CarbonLine:
    division: str
    amount: Decimal
    category: str | None
    kg_per_keur: Decimal | None
    kg: Decimal | None  # None: no category for this division


@dataclass(frozen=True)
class CarbonEstimate:
    lines: list[CarbonLine]
    total_kg: Decimal
    covered_amount: Decimal
    uncovered_amount: Decimal
    source: str = CARBON_SOURCE
    caveat: str = CARBON_CAVEAT

    @property
    def total_tonnes(self) -> Decimal:
        return (self.total_kg / 1000).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def coverage(self) -> Decimal:
        total = self.covered_amount + self.uncovered_amount
        return (self.covered_amount / total).quantize(Decimal("0.0001"), ROUND_HALF_UP) if total else Decimal(0)


def carbon_estimate(
    amounts_by_division: Mapping[str, Decimal],
    mapping: Mapping[str, str | None],
    factors: Mapping[str, EmissionFactor],
) -> CarbonEstimate:
    """Spend-based estimate per CPV division; divisions without a category are counted as not covered."""
    lines = []
    total = covered = uncovered = Decimal(0)
    for division in sorted(amounts_by_division):
        amount = Decimal(amounts_by_division[division])
        key = mapping.get(division)
        factor = factors.get(key) if key else None
        if factor is None:
            lines.append(CarbonLine(division, amount, None, None, None))
            uncovered += amount
            continue
        kg = emissions_kg(amount, factor.kg_per_keur)
        lines.append(CarbonLine(division, amount, factor.key, factor.kg_per_keur, kg))
        total += kg
        covered += amount
    return CarbonEstimate(lines=lines, total_kg=total, covered_amount=covered, uncovered_amount=uncovered)


# --------------------------------------------------------------------------- savings

DEFAULT_KEY = "*"
SAVINGS_SOURCE = N_(
    "Mutualis assumptions: a low and a high volume-discount rate per CPV division, our own judgement of the order "
    "of magnitude of pooling effects, not a promise."
)


@dataclass(frozen=True)
class SavingsAssumption:
    division: str  # two digits, or "*" for the default
    low_rate: Decimal
    high_rate: Decimal
    rationale: str = ""
    rationale_fr: str = ""

    def rationale_in(self, lang: str) -> str:
        """The rationale in French (the default) or English."""
        return self.rationale if lang == "en" or not self.rationale_fr else self.rationale_fr


@dataclass
class SavingsAssumptions:
    by_division: dict[str, SavingsAssumption] = field(default_factory=dict)

    def for_prefix(self, cpv_prefix: str) -> SavingsAssumption:
        division = (cpv_prefix or "")[:2]
        found = self.by_division.get(division) or self.by_division.get(DEFAULT_KEY)
        if found is None:
            raise KeyError(f"no savings assumption for division {division!r} and no default")
        return found


def load_savings_assumptions(path: Path | None = None) -> SavingsAssumptions:
    result = SavingsAssumptions()
    with open(path or DATA_DIR / "savings_assumptions.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            low, high = Decimal(row["low_rate"]), Decimal(row["high_rate"])
            if not Decimal(0) <= low <= high < 1:
                raise ValueError(f"savings rates for {row['division']!r} must satisfy 0 <= low <= high < 1")
            result.by_division[row["division"]] = SavingsAssumption(
                row["division"], low, high, row["rationale"], row.get("rationale_fr") or ""
            )
    if DEFAULT_KEY not in result.by_division:
        raise ValueError("the savings assumptions need a default row (division '*')")
    return result


def savings_range(
    total_amount: Decimal, cpv_prefix: str, assumptions: SavingsAssumptions | Mapping[str, SavingsAssumption]
) -> tuple[Decimal, Decimal, SavingsAssumption]:
    """(low, high, assumption used): the amount × the low and high discount rates of the prefix's division
    (or the default), to the cent. Reusable for overlaps, groups or any pooled amount."""
    if not isinstance(assumptions, SavingsAssumptions):
        assumptions = SavingsAssumptions(dict(assumptions))
    assumption = assumptions.for_prefix(cpv_prefix)
    amount = Decimal(total_amount)
    low = (amount * assumption.low_rate).quantize(CENT, ROUND_HALF_UP)
    high = (amount * assumption.high_rate).quantize(CENT, ROUND_HALF_UP)
    return low, high, assumption


# --------------------------------------------------------------------------- supplier concentration


def concentration(frame: pd.DataFrame) -> pd.DataFrame:
    """Per `prefix`: known-supplier cents, number of suppliers, top supplier and its share, HHI (0-10,000).

    `frame` has columns prefix, supplier_key ("" when unknown) and cents. Lines without a known supplier are
    left out of the shares (they cannot be attributed).
    """
    columns = ["prefix", "known_cents", "suppliers", "top_supplier", "top_cents", "top_share", "hhi"]
    known = frame.loc[frame["supplier_key"] != "", ["prefix", "supplier_key", "cents"]]
    if known.empty:
        return pd.DataFrame(columns=columns).set_index("prefix")
    per_supplier = known.groupby(["prefix", "supplier_key"], sort=False)["cents"].sum().reset_index()
    totals = per_supplier.groupby("prefix")["cents"].transform("sum")
    per_supplier["share"] = per_supplier["cents"] / totals
    per_supplier["share2"] = per_supplier["share"] ** 2
    top = per_supplier.sort_values(["prefix", "cents", "supplier_key"], ascending=[True, False, True]).drop_duplicates(
        "prefix"
    )
    grouped = per_supplier.groupby("prefix").agg(
        known_cents=("cents", "sum"), suppliers=("supplier_key", "nunique"), hhi=("share2", "sum")
    )
    top = top.set_index("prefix")
    grouped["top_supplier"] = top["supplier_key"]
    grouped["top_cents"] = top["cents"]
    grouped["top_share"] = (top["cents"] / grouped["known_cents"]).round(4)
    grouped["hhi"] = (grouped["hhi"] * 10_000).round(0).astype("int64")
    return grouped[columns[1:]]
