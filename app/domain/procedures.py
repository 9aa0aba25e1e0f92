"""Which award procedure French public-procurement law requires for an estimated amount.

The thresholds are data (app/data/procedure_thresholds.csv), each row dated and naming its legal
source: a row applies from its `valid_from` until a later row of the same nature, buyer class and
kind supersedes it. The date asked is the day the consultation is launched (the decrees apply to
consultations engaged from their date). Two kinds of threshold frame three procedures:

* below the `no_competition` threshold, neither publicity nor competition is required (R2122-8);
* from it up to (excluding) the `formal` (European) threshold, an adapted procedure (MAPA),
  with a notice in the BOAMP or a legal-announcements journal from the `publicity` threshold
  (R2131-12) and publicity suited to the purchase below it;
* at or above the `formal` threshold, a formal procedure (notice in the JOUE).

Social and other specific services (Annex XIV of directive 2014/24/EU, app/data/social_services_cpv.csv) are the
nature `social_services`: an adapted procedure whatever their value (R2123-1 3°), with a notice in the JOUE from
their own European threshold (750 000 € HT). `small_lot` thresholds serve `small_lots` (R2123-1 2°).

The amount compared is always the estimated value, excluding VAT, over the whole life of the contract, renewals and
options included (R2121-1; app/domain/estimate.py), never a yearly amount.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from app.domain.cpv import is_works, parse_code
from app.domain.text import N_

DEFAULT_THRESHOLDS_PATH = Path(__file__).resolve().parent.parent / "data" / "procedure_thresholds.csv"

SOCIAL_SERVICES_PATH = Path(__file__).resolve().parent.parent / "data" / "social_services_cpv.csv"

NATURES = ("supplies_services", "works", "social_services")
BUYER_CLASSES = ("central", "other")
RULE_BUYER_CLASSES = (*BUYER_CLASSES, "any")
KINDS = ("no_competition", "formal", "publicity", "small_lot")
PROCEDURE_CODES = ("none", "adapted", "formal")
PUBLICATIONS = ("none", "suited", "boamp_or_jal", "joue")
SMALL_LOTS_SHARE = Decimal("0.20")  # R2123-1 2°: small lots make up at most 20 % of the value of all lots

PROCEDURE_LABELS = {
    "none": N_("No publicity or competition required"),
    "adapted": N_("Adapted procedure (MAPA)"),
    "formal": N_("Formal procedure (European threshold)"),
}

PUBLICATION_LABELS = {
    "none": N_("No notice required"),
    "suited": N_("Publicity suited to the purchase, chosen by the buyer"),
    "boamp_or_jal": N_("Notice in the BOAMP or a legal-announcements journal"),
    "joue": N_("Notice in the BOAMP and the Official Journal of the EU"),
}

_CSV_COLUMNS = ("valid_from", "nature", "buyer_class", "kind", "amount_eur", "source")


# What pages and the API say about a date before the table (`ThresholdTable.first_covered_day`), with %(day)s.
BEFORE_THRESHOLDS = N_("No procedure thresholds are known before %(day)s: choose a later date.")
PROCEDURE_UNKNOWN = N_("Procedure unknown for that date: the procedure thresholds known start on %(day)s.")


class NoRuleInForceError(ValueError):
    """No threshold of the table applies yet on the date asked."""


@dataclass(frozen=True)
class ThresholdRule:
    """One row of the threshold table."""

    valid_from: date
    nature: str
    buyer_class: str  # "central", "other" or "any"
    kind: str  # "no_competition" or "formal"
    amount: Decimal  # euros, excluding VAT
    source: str

    def __post_init__(self) -> None:
        if self.nature not in NATURES:
            raise ValueError(f"unknown nature {self.nature!r}; expected one of {NATURES}")
        if self.buyer_class not in RULE_BUYER_CLASSES:
            raise ValueError(f"unknown buyer class {self.buyer_class!r}; expected one of {RULE_BUYER_CLASSES}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown threshold kind {self.kind!r}; expected one of {KINDS}")
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite() or self.amount <= 0:
            raise ValueError(f"threshold amount must be a positive Decimal, got {self.amount!r}")

    def applies_to(self, buyer_class: str) -> bool:
        return self.buyer_class in (buyer_class, "any")


@dataclass(frozen=True)
class ProcedureRequirement:
    """The procedure an amount calls for, with the thresholds that decided it."""

    code: str  # "none" | "adapted" | "formal"
    label: str  # English msgid, translated where shown
    no_competition_threshold: Decimal
    formal_threshold: Decimal
    # The later of the two rules' valid_from: the date since which this pair of thresholds applies.
    rule_valid_from: date
    nature: str
    buyer_class: str
    publication: str = "none"  # one of PUBLICATIONS: the notice the procedure calls for
    publicity_threshold: Decimal | None = None  # R2131-12 (None where it does not apply)

    @property
    def publication_label(self) -> str:
        return PUBLICATION_LABELS[self.publication]


@dataclass(frozen=True)
class ApplicableThresholds:
    """The pair of thresholds in force for one nature, buyer class and date."""

    nature: str
    buyer_class: str
    no_competition: ThresholdRule
    formal: ThresholdRule
    publicity: ThresholdRule | None = None
    small_lot: ThresholdRule | None = None

    def classify(self, total_amount: Decimal | int) -> ProcedureRequirement:
        amount = _as_amount(total_amount)
        if amount < self.no_competition.amount:
            return self.requirement("none")
        if amount < self.formal.amount:
            return self.requirement("adapted", publicity_reached=self._publicity_reached(amount))
        if self.nature == "social_services":  # R2123-1 3°: adapted whatever the value, JOUE notice from 750 k€
            return self.requirement("adapted", eu_notice=True)
        return self.requirement("formal")

    def _publicity_reached(self, amount: Decimal) -> bool:
        return self.publicity is not None and amount >= self.publicity.amount

    def requirement(
        self, code: str, *, publicity_reached: bool = False, eu_notice: bool = False
    ) -> ProcedureRequirement:
        """The requirement of procedure `code` under these thresholds (for callers that
        compared amounts themselves, e.g. vectorised over many amounts)."""
        if code not in PROCEDURE_CODES:
            raise ValueError(f"unknown procedure code {code!r}; expected one of {PROCEDURE_CODES}")
        if code == "formal" or eu_notice:
            publication = "joue"
        elif code == "adapted":
            publication = "boamp_or_jal" if publicity_reached else "suited"
        else:
            publication = "none"
        return ProcedureRequirement(
            code=code,
            label=PROCEDURE_LABELS[code],
            no_competition_threshold=self.no_competition.amount,
            formal_threshold=self.formal.amount,
            rule_valid_from=max(self.no_competition.valid_from, self.formal.valid_from),
            nature=self.nature,
            buyer_class=self.buyer_class,
            publication=publication,
            publicity_threshold=self.publicity.amount if self.publicity is not None else None,
        )


@dataclass(frozen=True)
class ThresholdTable:
    """All dated threshold rules; look-ups pick the latest rule in force on a date."""

    rules: tuple[ThresholdRule, ...]
    # (nature, buyer_class, kind) -> rules matching it, ordered by valid_from ("any" expanded).
    _index: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        rules = tuple(sorted(self.rules, key=lambda r: (r.valid_from, r.nature, r.kind, r.buyer_class)))
        object.__setattr__(self, "rules", rules)
        index: dict[tuple[str, str, str], list[ThresholdRule]] = {}
        for rule in rules:
            for buyer_class in BUYER_CLASSES:
                if rule.applies_to(buyer_class):
                    bucket = index.setdefault((rule.nature, buyer_class, rule.kind), [])
                    if bucket and bucket[-1].valid_from == rule.valid_from:
                        raise ValueError(
                            f"two {rule.kind} thresholds for {rule.nature} ({buyer_class} buyers) "
                            f"both start on {rule.valid_from.isoformat()}"
                        )
                    bucket.append(rule)
        object.__setattr__(self, "_index", index)

    def rule_in_force(self, kind: str, on: date, *, nature: str, buyer_class: str) -> ThresholdRule:
        """The latest rule of `kind` with valid_from <= on; NoRuleInForceError if none has started."""
        if kind not in KINDS:
            raise ValueError(f"unknown threshold kind {kind!r}; expected one of {KINDS}")
        _check_nature_and_class(nature, buyer_class)
        day = _as_date(on)
        bucket = self._index.get((nature, buyer_class, kind), [])
        position = bisect_right([r.valid_from for r in bucket], day)
        if position == 0:
            first = f"; the first one starts on {bucket[0].valid_from.isoformat()}" if bucket else ""
            raise NoRuleInForceError(
                f"no {kind} threshold for {nature} ({buyer_class} buyers) is in force on {day.isoformat()}{first}"
            )
        return bucket[position - 1]

    def first_covered_day(self) -> date:
        """The first day on which every nature and buyer class has both thresholds: before it, no procedure can be
        told (NoRuleInForceError)."""
        return max(bucket[0].valid_from for bucket in self._index.values() if bucket)

    def covers(self, on: date) -> bool:
        return _as_date(on) >= self.first_covered_day()

    def history(self, kind: str, *, nature: str, buyer_class: str) -> tuple[ThresholdRule, ...]:
        """Every rule of `kind` applying to this nature and buyer class, oldest first."""
        if kind not in KINDS:
            raise ValueError(f"unknown threshold kind {kind!r}; expected one of {KINDS}")
        _check_nature_and_class(nature, buyer_class)
        return tuple(self._index.get((nature, buyer_class, kind), ()))

    def applicable(self, on: date, *, nature: str, buyer_class: str) -> ApplicableThresholds:
        return ApplicableThresholds(
            nature=nature,
            buyer_class=buyer_class,
            no_competition=self.rule_in_force("no_competition", on, nature=nature, buyer_class=buyer_class),
            formal=self.rule_in_force("formal", on, nature=nature, buyer_class=buyer_class),
            publicity=self.optional_rule("publicity", on, nature=nature, buyer_class=buyer_class),
            small_lot=self.optional_rule("small_lot", on, nature=nature, buyer_class=buyer_class),
        )

    def optional_rule(self, kind: str, on: date, *, nature: str, buyer_class: str) -> ThresholdRule | None:
        """The rule of an optional kind in force on `on`, or None when the table has none for it yet."""
        try:
            return self.rule_in_force(kind, on, nature=nature, buyer_class=buyer_class)
        except NoRuleInForceError:
            return None


def load_thresholds(path: str | Path | None = None) -> ThresholdTable:
    """Read a threshold CSV; without a path, the shipped table (read once and cached)."""
    if path is None:
        return _default_table()
    return _read_table(Path(path))


@lru_cache(maxsize=1)
def _default_table() -> ThresholdTable:
    return _read_table(DEFAULT_THRESHOLDS_PATH)


def _read_table(path: Path) -> ThresholdTable:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        rules = [_parse_row(row, path, reader.line_num) for row in reader]
    if not rules:
        raise ValueError(f"{path}: no threshold rows")
    return ThresholdTable(tuple(rules))


def _parse_row(row: dict[str, str], path: Path, line: int) -> ThresholdRule:
    try:
        valid_from = date.fromisoformat((row["valid_from"] or "").strip())
        amount = Decimal((row["amount_eur"] or "").strip())
        return ThresholdRule(
            valid_from=valid_from,
            nature=(row["nature"] or "").strip(),
            buyer_class=(row["buyer_class"] or "").strip(),
            kind=(row["kind"] or "").strip(),
            amount=amount,
            source=(row["source"] or "").strip(),
        )
    except (ValueError, InvalidOperation) as error:
        raise ValueError(f"{path}, line {line}: {error}") from error


def required_procedure(
    total_amount: Decimal | int,
    on: date,
    *,
    nature: str,
    buyer_class: str,
    table: ThresholdTable | None = None,
) -> ProcedureRequirement:
    """The procedure required for `total_amount` (euros excluding VAT, whole duration) on date `on`.

    amount < no_competition -> "none"; no_competition <= amount < formal -> "adapted";
    amount >= formal -> "formal". Raises ValueError for a negative amount or a date before
    every rule of the table.
    """
    amount = _as_amount(total_amount)
    table = load_thresholds() if table is None else table
    return table.applicable(on, nature=nature, buyer_class=buyer_class).classify(amount)


@lru_cache(maxsize=1)
def _social_service_ranges() -> tuple[tuple[str, str], ...]:
    with SOCIAL_SERVICES_PATH.open(newline="", encoding="utf-8") as handle:
        return tuple(sorted((row["code_from"], row["code_to"]) for row in csv.DictReader(handle)))


def is_social_service(code: str) -> bool:
    """Whether a CPV code is among the social and other specific services of Annex XIV of directive 2014/24/EU."""
    digits = parse_code(code).code
    return any(low <= digits <= high for low, high in _social_service_ranges())


def nature_of_cpv(code: str) -> str:
    """'works' for CPV division 45 (construction work), 'social_services' for the codes of Annex XIV,
    'supplies_services' otherwise."""
    digits = parse_code(code).code
    if is_works(digits):
        return "works"
    return "social_services" if is_social_service(digits) else "supplies_services"


def nature_of_codes(cpv_codes: Iterable[str]) -> str:
    """The nature of a set of needs: 'works' (or 'social_services') only when every code is.

    A mixed set is treated as supplies_services: its thresholds are the lowest, so this choice
    never under-states the procedure required. An empty set is refused.
    """
    natures = {nature_of_cpv(code) for code in cpv_codes}
    if not natures:
        raise ValueError("at least one CPV code is needed to tell the nature of a purchase")
    return natures.pop() if len(natures) == 1 else "supplies_services"


def small_lots(
    lot_amounts: Iterable[Decimal | int],
    on: date,
    *,
    nature: str,
    buyer_class: str,
    table: ThresholdTable | None = None,
) -> list[bool]:
    """Which lots of a purchase may follow an adapted procedure although the whole reaches the formal threshold
    (R2123-1 2°): lots below the `small_lot` threshold (80 000 € HT supplies and services, 1 000 000 € HT works),
    as long as together they make up at most 20 % of the estimated value of all the lots. The smallest lots are
    taken first; the answer is one flag per lot, in the order given."""
    amounts = [_as_amount(amount) for amount in lot_amounts]
    table = load_thresholds() if table is None else table
    rule = table.applicable(on, nature=nature, buyer_class=buyer_class).small_lot
    flags = [False] * len(amounts)
    if rule is None:
        return flags
    allowance = sum(amounts, Decimal("0")) * SMALL_LOTS_SHARE
    used = Decimal("0")
    for index in sorted(range(len(amounts)), key=lambda i: (amounts[i], i)):
        amount = amounts[index]
        if amount >= rule.amount or used + amount > allowance:
            break
        flags[index] = True
        used += amount
    return flags


def small_lots_under(
    procedure: ProcedureRequirement | None, lot_amounts: Iterable[Decimal | int], on: date
) -> list[bool]:
    """small_lots for the lots of a purchase whose whole calls for `procedure` (decided under the thresholds of `on`):
    only a purchase that reaches the formal procedure has lots that may follow an adapted one instead."""
    amounts = list(lot_amounts)
    if procedure is None or procedure.code != "formal":
        return [False] * len(amounts)
    return small_lots(amounts, on, nature=procedure.nature, buyer_class=procedure.buyer_class)


def procedure_for_codes(
    total: Decimal | int,
    on: date,
    cpv_codes: Iterable[str],
    buyer_class: str,
    *,
    table: ThresholdTable | None = None,
) -> ProcedureRequirement:
    """required_procedure for a set of needs described by their CPV codes.

    The nature is works only when all codes are works (division 45); as soon as one code is a
    supply or a service, the supplies_services thresholds apply (see nature_of_codes).
    """
    return required_procedure(total, on, nature=nature_of_codes(cpv_codes), buyer_class=buyer_class, table=table)


def _check_nature_and_class(nature: str, buyer_class: str) -> None:
    if nature not in NATURES:
        raise ValueError(f"unknown nature {nature!r}; expected one of {NATURES}")
    if buyer_class not in BUYER_CLASSES:
        raise ValueError(f"unknown buyer class {buyer_class!r}; expected one of {BUYER_CLASSES}")


def _as_amount(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"amounts must be Decimal or int (never float), got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    return amount


def _as_date(value: date) -> date:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")
