"""Carbon estimates of purchases per year, with a low–high range, their method and their sources.

Energy bought by physical quantity (kWh, litres) is estimated from physical emission factors (ADEME Base Carbone,
`app/data/energy_emission_factors.csv`, CPV codes → factor in `energy_cpv_factors.csv`); anything else from the
monetary ratios of `emission_factors.csv` through the CPV division → category mapping. Pure functions on plain
values; no Flask, no database. Amounts are Decimal euros excluding VAT, per year.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from app.domain.impact import DATA_DIR, EmissionFactor
from app.domain.text import N_

TENTH = Decimal("0.1")
CENT = Decimal("0.01")

# --------------------------------------------------------------------------- units

UNITS = ("kWh", "MWh", "GWh", "L", "m3", "t", "unit")
_ALIASES = {
    "kwh": "kWh",
    "mwh": "MWh",
    "gwh": "GWh",
    "l": "L",
    "litre": "L",
    "litres": "L",
    "liter": "L",
    "liters": "L",
    "m3": "m3",
    "m³": "m3",
    "t": "t",
    "tonne": "t",
    "tonnes": "t",
    "unit": "unit",
    "unité": "unit",
    "unite": "unit",
    "unités": "unit",
}
UNIT_LABELS = {
    "kWh": N_("kWh"),
    "MWh": N_("MWh"),
    "GWh": N_("GWh"),
    "L": N_("litres"),
    "m3": N_("m³"),
    "t": N_("tonnes"),
    "unit": N_("units"),
}
# Units of one kind convert into the unit of a factor: energy into kWh, volumes into litres.
_IN_BASE = {
    "kWh": ("kWh", Decimal(1)),
    "MWh": ("kWh", Decimal(1000)),
    "GWh": ("kWh", Decimal(1_000_000)),
    "L": ("L", Decimal(1)),
    "m3": ("L", Decimal(1000)),
    "t": ("t", Decimal(1)),
}


def normalise_unit(text: str | None) -> str | None:
    """'mwh' → 'MWh', 'm³' → 'm3', 'litres' → 'L'; any other text is kept as given (a ream, a meal: counted, not
    converted); empty → None."""
    cleaned = text.strip() if isinstance(text, str) else ""
    if not cleaned:
        return None
    return _ALIASES.get(cleaned.lower(), cleaned)


def in_unit(quantity: Decimal, unit: str | None, target: str) -> Decimal | None:
    """The quantity expressed in `target` (kWh, L or t), or None when the units do not convert."""
    base = _IN_BASE.get(normalise_unit(unit) or "")
    if base is None or base[0] != target:
        return None
    return Decimal(quantity) * base[1]


# --------------------------------------------------------------------------- factors

METHODS = ("physical", "monetary", "mixed", "none")
METHOD_LABELS = {
    "physical": N_("physical factors (quantities)"),
    "monetary": N_("monetary ratios (euros)"),
    "mixed": N_("physical factors and monetary ratios"),
    "none": N_("not estimated"),
}
# ADEME presents its monetary ratios as orders of magnitude; Mutualis shows them with ±50 % (our assumption).
MONETARY_UNCERTAINTY = Decimal("0.50")
MONETARY_SOURCE = N_(
    "ADEME Base Carbone monetary ratios (older CPA-based set, kgCO2e per k€ excluding VAT), CPV division → "
    "category mapping by Mutualis; range: half the value either way (Mutualis assumption)"
)
PHYSICAL_SOURCE = N_("%(source)s — %(identifier)s: %(factor)s kgCO2e per %(unit)s, uncertainty ±%(pct)s %%")
CARBON_CAVEATS = (
    N_(
        "Estimates, not measurements: a quantity times an average emission factor, or euros times an average "
        "ratio of the product category."
    ),
    N_(
        "Physical factors (energy) are much more reliable than monetary ratios; the method of each figure says "
        "which was used."
    ),
    N_(
        "Ranges add the low and high values of each line (the uncertainty of ADEME's factors for energy, half the "
        "value either way for monetary ratios): they are wide on purpose."
    ),
    N_(
        "Electricity uses the average French consumption mix (location-based): a green-electricity contract does "
        "not change the figure."
    ),
    N_(
        "District heating uses a national average: each network has its own content in the annex of the DPE order; "
        "use it when the network is known."
    ),
)


@dataclass(frozen=True)
class PhysicalFactor:
    key: str
    label_fr: str
    label_en: str
    unit: str  # kWh or L
    kg_per_unit: Decimal
    uncertainty: Decimal  # fraction: 0.10 for ±10 %
    vintage: str
    identifier: str
    scope: str
    source: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr


def load_physical_factors(path: Path | None = None) -> dict[str, PhysicalFactor]:
    with open(path or DATA_DIR / "energy_emission_factors.csv", encoding="utf-8", newline="") as handle:
        result = {}
        for row in csv.DictReader(handle):
            uncertainty = Decimal(row["uncertainty_pct"]) / 100
            if not Decimal(0) <= uncertainty < 1 or row["unit"] not in ("kWh", "L", "t"):
                raise ValueError(f"bad physical factor row {row['factor_key']!r}")
            result[row["factor_key"]] = PhysicalFactor(
                row["factor_key"],
                row["label_fr"],
                row["label_en"],
                row["unit"],
                Decimal(row["kgco2e_per_unit"]),
                uncertainty,
                row["vintage"],
                row["identifier"],
                row["scope"],
                row["source"],
            )
        return result


def significant(code: str) -> str:
    """'09310000' → '0931' (a CPV code without its trailing zeros, at least the division)."""
    stripped = (code or "").rstrip("0")
    return stripped if len(stripped) >= 2 else (code or "")[:2]


def load_energy_cpv(path: Path | None = None) -> dict[str, str]:
    """Significant CPV prefix → physical factor key."""
    with open(path or DATA_DIR / "energy_cpv_factors.csv", encoding="utf-8", newline="") as handle:
        return {significant(row["cpv_prefix"]): row["factor_key"] for row in csv.DictReader(handle)}


def physical_factor_for(cpv_code: str, energy_cpv: Mapping[str, str]) -> str | None:
    """The factor key of the longest shipped prefix of the code, or None."""
    code = cpv_code or ""
    for length in range(len(code), 1, -1):
        key = energy_cpv.get(code[:length])
        if key:
            return key
    return None


@dataclass(frozen=True)
class Reference:
    """What an estimate rests on: the shipped factors and ratios, passed in by the caller (cached there)."""

    physical: Mapping[str, PhysicalFactor]
    energy_cpv: Mapping[str, str]
    monetary: Mapping[str, EmissionFactor]
    mapping: Mapping[str, str | None]  # CPV division → monetary category key (None: not estimated)


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """kgCO2e per year with its range; `amount` is the yearly amount it covers, `estimated_amount` the part of it
    that has an estimate (the rest is not counted)."""

    kg: Decimal = Decimal(0)
    low_kg: Decimal = Decimal(0)
    high_kg: Decimal = Decimal(0)
    methods: frozenset[str] = field(default_factory=frozenset)  # physical and/or monetary
    sources: tuple[str, ...] = ()  # keys: "physical:<factor>" or "monetary:<category>"
    amount: Decimal = Decimal(0)
    estimated_amount: Decimal = Decimal(0)

    @property
    def method(self) -> str:
        if {"physical", "monetary"} <= self.methods:
            return "mixed"
        if self.methods:
            return next(iter(self.methods))
        return "none"

    @property
    def tco2e(self) -> Decimal:
        return tonnes(self.kg)

    @property
    def tco2e_low(self) -> Decimal:
        return tonnes(self.low_kg)

    @property
    def tco2e_high(self) -> Decimal:
        return tonnes(self.high_kg)

    @property
    def coverage(self) -> Decimal | None:
        """Share (0..1) of the yearly amount that has an estimate."""
        if not self.amount:
            return None
        return (self.estimated_amount / self.amount).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(
            self.kg + other.kg,
            self.low_kg + other.low_kg,
            self.high_kg + other.high_kg,
            self.methods | other.methods,
            tuple(sorted(set(self.sources) | set(other.sources))),
            self.amount + other.amount,
            self.estimated_amount + other.estimated_amount,
        )


def tonnes(kg: Decimal) -> Decimal:
    return (Decimal(kg) / 1000).quantize(TENTH, ROUND_HALF_UP)


def _ranged(kg: Decimal, uncertainty: Decimal) -> tuple[Decimal, Decimal]:
    return kg * (1 - uncertainty), kg * (1 + uncertainty)


def estimate_line(
    cpv_code: str, annual_amount: Decimal, quantity: Decimal | None, unit: str | None, reference: Reference
) -> Estimate:
    """One purchase per year: the physical factor when the code is energy with a factor and the quantity's unit
    converts into the factor's unit; otherwise the monetary ratio of the code's division; otherwise nothing."""
    amount = Decimal(annual_amount or 0)
    key = physical_factor_for(cpv_code, reference.energy_cpv)
    factor = reference.physical.get(key) if key else None
    if factor is not None and quantity is not None:
        converted = in_unit(quantity, unit, factor.unit)
        if converted is not None:
            kg = converted * factor.kg_per_unit
            low, high = _ranged(kg, factor.uncertainty)
            return Estimate(kg, low, high, frozenset({"physical"}), (f"physical:{factor.key}",), amount, amount)
    category = reference.mapping.get((cpv_code or "")[:2])
    ratio = reference.monetary.get(category) if category else None
    if ratio is None:
        return Estimate(amount=amount)
    kg = amount * ratio.kg_per_keur / 1000
    low, high = _ranged(kg, MONETARY_UNCERTAINTY)
    return Estimate(kg, low, high, frozenset({"monetary"}), (f"monetary:{ratio.key}",), amount, amount)


def total(estimates: Iterable[Estimate]) -> Estimate:
    result = Estimate()
    for estimate in estimates:
        result = result + estimate
    return result


def estimate_lines(lines: Iterable[tuple], reference: Reference) -> dict[object, Estimate]:
    """Estimates per key (an overlap, a group) from purchase lines `(key, CPV code, unit, annual cents, quantity)`:
    integer cents per year, the quantity a Decimal or None when the line has none.

    The lines of one key × CPV code × unit × "has a quantity" are summed first (their units normalised: 'MWh' and
    'mwh' are one unit), then each sum is estimated once and added to its key's estimate, in the order of key, code,
    unit and "has a quantity". An estimate is linear in the amount and in the quantity, so summing first is exact:
    the lines may come already summed (per CPV code and unit from SQL) or one per need.
    """
    sums: dict[tuple, list] = {}
    for key, cpv_code, unit, annual_cents, quantity in lines:
        group = (key, cpv_code, normalise_unit(unit) or "", quantity is not None)
        found = sums.get(group)
        if found is None:
            sums[group] = [int(annual_cents), quantity]
        else:
            found[0] += int(annual_cents)
            if quantity is not None:
                found[1] += quantity
    result: dict[object, Estimate] = {}
    for (key, cpv_code, unit, _), (cents, quantity) in sorted(sums.items(), key=lambda item: item[0]):
        line = estimate_line(cpv_code, Decimal(cents) / 100, quantity, unit or None, reference)
        result[key] = result[key] + line if key in result else line
    return result


def source_texts(estimate: Estimate, reference: Reference, gettext=lambda s: s) -> list[str]:
    """Human-readable sources of an estimate, physical factors first."""
    texts = []
    for source in estimate.sources:
        kind, _, key = source.partition(":")
        if kind == "physical" and key in reference.physical:
            factor = reference.physical[key]
            texts.append(
                gettext(PHYSICAL_SOURCE)
                % {
                    "source": factor.source,
                    "identifier": factor.identifier,
                    "factor": factor.kg_per_unit,
                    "unit": factor.unit,
                    "pct": f"{factor.uncertainty * 100:f}".rstrip("0").rstrip("."),
                }
            )
    monetary = sorted(key for kind, _, key in (s.partition(":") for s in estimate.sources) if kind == "monetary")
    if monetary:
        names = ", ".join(reference.monetary[k].label_fr for k in monetary if k in reference.monetary)
        texts.append(f"{gettext(MONETARY_SOURCE)} : {names}")
    return texts


# --------------------------------------------------------------------------- savings


def savings_per_year(annual_amount: Decimal, low_rate: Decimal, high_rate: Decimal) -> tuple[Decimal, Decimal]:
    amount = Decimal(annual_amount)
    return (amount * low_rate).quantize(CENT, ROUND_HALF_UP), (amount * high_rate).quantize(CENT, ROUND_HALF_UP)
