"""The overlap engine: where several organisations plan to buy the same kind of thing.

Everything works on a pandas DataFrame of submitted needs, one row per need, with columns

    id (int), organization (str code), buyer_class ("central" | "other"), cpv_code (8-digit str),
    annual_cents (int, yearly amount in euro cents, excluding VAT), duration_months (int >= 1),
    start_date (date), current_contract_end (date or missing),
    total_cents (int, optional: the estimated value over the whole life, renewals and options included, as
    stored on the need; without it, annual × duration / 12)

Aggregations are vectorised (groupby on whole columns); Python loops only walk the resulting
groups to build the dataclasses. Money stays in integer cents until it becomes a Decimal.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH, WORKS_DIVISION, code_of_prefix
from app.domain.procedures import (
    BUYER_CLASSES,
    NATURES,
    PROCEDURE_CODES,
    ProcedureRequirement,
    ThresholdTable,
    load_thresholds,
)
from app.domain.text import N_

NEED_COLUMNS = (
    "id",
    "organization",
    "buyer_class",
    "cpv_code",
    "annual_cents",
    "duration_months",
    "start_date",
    "current_contract_end",
)
_INT64_MAX = np.iinfo(np.int64).max
_CPV_WITH_OPTIONAL_CHECK_DIGIT = re.compile(r"^\s*(\d{8})(?:\s*-\s*\d)?\s*$")
SPLITTING_CLASS_LEVEL = "class"

SPLITTING_MESSAGES = {
    "no_competition": N_(
        "%(count)s needs of CPV class %(cpv_prefix)s starting in %(year)s each stay below the "
        "%(threshold)s € no-competition threshold but together reach %(total)s €: they must be "
        "estimated together, which may require publicity and competition."
    ),
    "formal": N_(
        "%(count)s needs of CPV class %(cpv_prefix)s starting in %(year)s each stay below the "
        "%(threshold)s € European threshold but together reach %(total)s €: they must be "
        "estimated together, which may require a formal procedure."
    ),
}


@dataclass(frozen=True)
class Overlap:
    """Needs of at least two organisations sharing one CPV prefix within the window."""

    cpv_prefix: str
    level: str
    label: str
    organizations: tuple[str, ...]
    need_ids: tuple[int, ...]
    annual_amount: Decimal  # euros, sum of yearly amounts
    total_amount: Decimal  # euros, sum of totals over each need's duration
    procedure: ProcedureRequirement  # for the combined total
    procedure_alone: dict[str, ProcedureRequirement]  # organisation -> for its own total
    per_organization: dict[str, tuple[Decimal, Decimal]]  # organisation -> (annual, total)


@dataclass(frozen=True)
class SplittingWarning:
    """Needs of one organisation that look like one purchase split under a threshold."""

    organization: str
    cpv_prefix: str  # the CPV class (4 digits)
    year: int
    need_ids: tuple[int, ...]
    total_amount: Decimal  # euros, sum of the listed needs' totals
    threshold_kind: str  # "no_competition" | "formal"
    threshold: Decimal
    message: str  # msgid with %(name)s placeholders, see message_params

    @property
    def message_params(self) -> dict[str, object]:
        return {
            "count": len(self.need_ids),
            "cpv_prefix": self.cpv_prefix,
            "year": self.year,
            "threshold": self.threshold,
            "total": self.total_amount,
        }


# --------------------------------------------------------------------------- frame helpers


def needs_frame(records: Iterable[Mapping]) -> pd.DataFrame:
    """Build a needs DataFrame with normalised dtypes from dicts (extra keys are kept).

    current_contract_end may be left out; every other column of NEED_COLUMNS is required.
    """
    rows = list(records)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame({name: [] for name in NEED_COLUMNS})
    return normalise_needs(frame)


def normalise_needs(needs: pd.DataFrame) -> pd.DataFrame:
    """A copy of `needs` with checked, normalised columns; ValueError on bad data.

    id, annual_cents, duration_months -> int64; organization, buyer_class, cpv_code -> str
    (the CPV check digit, if any, dropped); start_date, current_contract_end -> datetime64
    at midnight (missing contract end -> NaT).
    """
    frame = needs.copy()
    if "current_contract_end" not in frame.columns:
        frame["current_contract_end"] = pd.NaT
    if "total_cents" in frame.columns:
        frame["total_cents"] = _int_column(frame["total_cents"], "total_cents")
        if (frame["total_cents"] < 0).any():
            raise ValueError("total_cents must not be negative")
    missing = [name for name in NEED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"needs lack column(s): {', '.join(missing)}")

    for name in ("id", "annual_cents", "duration_months"):
        frame[name] = _int_column(frame[name], name)
    if frame["id"].duplicated().any():
        raise ValueError("need ids must be unique")
    if (frame["annual_cents"] < 0).any():
        raise ValueError("annual_cents must not be negative")
    if (frame["duration_months"] < 1).any():
        raise ValueError("duration_months must be at least 1")
    # annual * duration * 2 + 12 must fit in int64 (see total_cents).
    if (frame["annual_cents"] > (_INT64_MAX - 12) // (2 * frame["duration_months"])).any():
        raise ValueError("annual_cents x duration_months is too large")

    for name in ("organization", "buyer_class"):
        frame[name] = _text_column(frame[name], name)
    if not frame["buyer_class"].isin(BUYER_CLASSES).all():
        raise ValueError(f"buyer_class must be one of {BUYER_CLASSES}")
    frame["cpv_code"] = _cpv_column(frame["cpv_code"])

    frame["start_date"] = _date_column(frame["start_date"], "start_date")
    if frame["start_date"].isna().any():
        raise ValueError("start_date is required for every need")
    frame["current_contract_end"] = _date_column(frame["current_contract_end"], "current_contract_end")
    return frame


def need_totals(frame: pd.DataFrame) -> pd.Series:
    """Each need's total estimated value in cents: the stored total_cents column when the frame has one
    (renewals and options included), else annual × duration / 12."""
    if "total_cents" in frame.columns:
        return frame["total_cents"].astype("int64")
    return total_cents(frame["annual_cents"], frame["duration_months"])


def total_cents(annual_cents: pd.Series, duration_months: pd.Series) -> pd.Series:
    """Each need's amount over its whole duration, in cents, rounded half-up.

    annual * months / 12, computed in integers: floor((2 * annual * months + 12) / 24) is the
    half-up rounding for non-negative values.
    """
    return (annual_cents.astype("int64") * duration_months.astype("int64") * 2 + 12) // 24


def in_window(needs: pd.DataFrame, window_start: date, window_months: int = 12) -> pd.DataFrame:
    """The needs whose start_date or current_contract_end falls in
    [window_start, window_start + window_months months). Month arithmetic clips to the end of
    the month (2026-01-31 + 1 month = 2026-02-28)."""
    frame = normalise_needs(needs)
    return frame.loc[_window_mask(frame, window_start, window_months)]


def heatmap(needs: pd.DataFrame, level: str) -> pd.DataFrame:
    """Yearly amounts in cents summed per organisation (rows) and CPV prefix at `level` (columns).

    Missing combinations are 0; rows and columns are sorted.
    """
    length = _prefix_length(level, allowed=tuple(PREFIX_LENGTH))
    frame = normalise_needs(needs)
    if frame.empty:
        return pd.DataFrame(
            index=pd.Index([], name="organization", dtype="str"),
            columns=pd.Index([], name="prefix", dtype="str"),
            dtype="int64",
        )
    prefix_id, prefixes, _ = _coded_prefixes(frame["cpv_code"], length)
    org_id, organizations = _coded(frame["organization"])
    sums = (
        pd.DataFrame({"org": org_id, "prefix": prefix_id, "annual": frame["annual_cents"].to_numpy()})
        .groupby(["org", "prefix"], sort=True)["annual"]
        .sum()
        .unstack("prefix", fill_value=0)
        .astype("int64")
    )
    sums.index = pd.Index(organizations[sums.index.to_numpy()], name="organization", dtype="str")
    sums.columns = pd.Index(prefixes[sums.columns.to_numpy()], name="prefix", dtype="str")
    return sums


# --------------------------------------------------------------------------- overlaps


def find_overlaps(
    needs: pd.DataFrame,
    *,
    level: str,
    window_start: date,
    window_months: int = 12,
    labels: Mapping[str, str] | None = None,
    thresholds: ThresholdTable | None = None,
) -> list[Overlap]:
    """CPV prefixes at `level` where needs of at least two organisations meet in the window.

    A need is in the window when its start_date or its current_contract_end falls in
    [window_start, window_start + window_months months). Amounts are each need's total over
    its duration (see total_cents), summed exactly in cents.

    Procedures are those in force on window_start (the planned call date). The nature is
    "works" only when every code of the group is works, as procedures.nature_of_codes decides
    (computed here column-wise). The combined procedure uses the "central" thresholds as soon
    as one member is a central buyer: they are the lower, stricter ones, so the group never
    under-estimates its obligations. Each organisation's own procedure (procedure_alone) uses
    its own class (central if any of its rows says central) and its own total in the group.

    Sorted by total_amount descending, then prefix. ValueError when window_start is before
    every threshold rule.
    """
    length = _prefix_length(level, allowed=OVERLAP_LEVELS)
    table = load_thresholds() if thresholds is None else thresholds
    labels = labels or {}
    on = _as_day(window_start)
    for nature in NATURES:  # fail on a date before the table, whatever the needs are
        for buyer_class in BUYER_CLASSES:
            table.applicable(on, nature=nature, buyer_class=buyer_class)
    frame = normalise_needs(needs)
    frame = frame.loc[_window_mask(frame, on, window_months)]
    if frame.empty:
        return []

    # Strings are coded once as integers ordered like the strings, so that every groupby and
    # sort below runs on integer columns.
    prefix_id, prefixes, works = _coded_prefixes(frame["cpv_code"], length)
    org_id, organizations = _coded(frame["organization"])
    rows = pd.DataFrame(
        {
            "prefix": prefix_id,
            "org": org_id,
            "id": frame["id"].to_numpy(),
            "annual": frame["annual_cents"].to_numpy(),
            "total": need_totals(frame).to_numpy(),
            "central": (frame["buyer_class"] == "central").to_numpy(),
            "works": works,
        }
    )
    per_org = (
        rows.groupby(["prefix", "org"], sort=True)
        .agg(annual=("annual", "sum"), total=("total", "sum"), central=("central", "any"), works=("works", "all"))
        .reset_index()
    )
    shares = pd.DataFrame(
        {
            "prefix": prefixes[per_org["prefix"].to_numpy()],
            "organization": organizations[per_org["org"].to_numpy()],
            "annual_cents": per_org["annual"].to_numpy(),
            "total_cents": per_org["total"].to_numpy(),
            "central": per_org["central"].to_numpy(),
            "works": per_org["works"].to_numpy(),
        }
    )
    ids = rows.sort_values(["prefix", "id"], kind="stable")
    id_slices = _slices(ids["prefix"].to_numpy())
    id_values = ids["id"].tolist()
    need_ids = {str(prefixes[key]): tuple(id_values[slice(*bounds)]) for key, bounds in id_slices.items()}
    return overlaps_from_shares(
        shares, level=level, window_start=on, labels=labels, thresholds=table, need_ids=need_ids
    )


SHARE_COLUMNS = ("prefix", "organization", "annual_cents", "total_cents", "central", "works")


def overlaps_from_shares(
    shares: pd.DataFrame,
    *,
    level: str,
    window_start: date,
    labels: Mapping[str, str] | None = None,
    thresholds: ThresholdTable | None = None,
    need_ids: Mapping[str, tuple[int, ...]] | None = None,
) -> list[Overlap]:
    """The overlaps, from each organisation's share of each CPV prefix among the needs in the window.

    `shares` has one row per prefix and organisation (SHARE_COLUMNS): the prefix at `level`, the organisation's
    code, the sums of its needs' yearly amounts and totals in cents, whether it is a central buyer and whether
    all its needs under the prefix are works -- what one SQL GROUP BY over the needs gives. The rules are those
    of find_overlaps; `need_ids` gives each overlap's needs (prefix -> ids), empty when left out.
    """
    _prefix_length(level, allowed=OVERLAP_LEVELS)
    table = load_thresholds() if thresholds is None else thresholds
    labels = labels or {}
    need_ids = need_ids or {}
    on = _as_day(window_start)
    for nature in NATURES:  # fail on a date before the table, whatever the needs are
        for buyer_class in BUYER_CLASSES:
            table.applicable(on, nature=nature, buyer_class=buyer_class)
    if shares.empty:
        return []
    # A few thousand rows at most (prefixes × organisations): grouped in plain Python, whose per-row cost is below
    # the fixed cost of the pandas operations it replaces; only the procedures are looked up column-wise.
    columns = [
        shares["prefix"].astype(str).tolist(),
        shares["organization"].astype(str).tolist(),
        shares["annual_cents"].astype("int64").tolist(),
        shares["total_cents"].astype("int64").tolist(),
        shares["central"].astype(bool).tolist(),
        shares["works"].astype(bool).tolist(),
    ]
    shared = [
        members
        for _, group in itertools.groupby(sorted(zip(*columns, strict=True)), key=operator.itemgetter(0))
        if len(members := list(group)) >= 2
    ]
    if not shared:
        return []
    # prefix, annual, total, central (any member), works (all members: the nature of a prefix applies to each
    # of its organisations' shares too)
    per_prefix = [
        (
            members[0][0],
            sum(m[2] for m in members),
            sum(m[3] for m in members),
            any(m[4] for m in members),
            all(m[5] for m in members),
        )
        for members in shared
    ]
    member_works = [prefix_row[4] for prefix_row, members in zip(per_prefix, shared, strict=True) for _ in members]
    members_flat = [m for members in shared for m in members]
    prefix_procedures = _procedures(
        np.array([p[2] for p in per_prefix], dtype=np.int64),
        np.array([p[4] for p in per_prefix], dtype=bool),
        np.array([p[3] for p in per_prefix], dtype=bool),
        table,
        on,
    ).tolist()
    member_procedures = _procedures(
        np.array([m[3] for m in members_flat], dtype=np.int64),
        np.array(member_works, dtype=bool),
        np.array([m[4] for m in members_flat], dtype=bool),
        table,
        on,
    ).tolist()

    overlaps = []
    position = 0
    for (prefix, annual, total, _, _), members, procedure in zip(per_prefix, shared, prefix_procedures, strict=True):
        alone = member_procedures[position : position + len(members)]
        position += len(members)
        overlaps.append(
            Overlap(
                cpv_prefix=prefix,
                level=level,
                label=labels.get(code_of_prefix(prefix), ""),
                organizations=tuple(m[1] for m in members),
                need_ids=need_ids.get(prefix, ()),
                annual_amount=_euros(annual),
                total_amount=_euros(total),
                procedure=procedure,
                procedure_alone={m[1]: p for m, p in zip(members, alone, strict=True)},
                per_organization={m[1]: (_euros(m[2]), _euros(m[3])) for m in members},
            )
        )
    overlaps.sort(key=lambda o: (-o.total_amount, o.cpv_prefix))
    return overlaps


def _procedures(
    amounts_cents: np.ndarray, works: np.ndarray, central: np.ndarray, table: ThresholdTable, on: date
) -> np.ndarray:
    """ProcedureRequirement per amount (cents), compared column-wise against the thresholds in
    force on `on` for each row's nature and buyer class."""
    result = np.empty(len(amounts_cents), dtype=object)
    for is_works in (False, True):
        for is_central in (False, True):
            mask = (works == is_works) & (central == is_central)
            if not mask.any():
                continue
            applicable = table.applicable(
                on,
                nature="works" if is_works else "supplies_services",
                buyer_class="central" if is_central else "other",
            )
            low, high = _cents(applicable.no_competition.amount), _cents(applicable.formal.amount)
            choices = np.array(
                [applicable.requirement(code) for code in PROCEDURE_CODES]
                + [applicable.requirement("adapted", publicity_reached=True)],
                dtype=object,
            )
            amounts = amounts_cents[mask]
            index = (amounts >= low).astype(int) + (amounts >= high).astype(int)
            if applicable.publicity is not None:  # an adapted procedure from 90 000 € HT needs a published notice
                index[(index == 1) & (amounts >= _cents(applicable.publicity.amount))] = len(PROCEDURE_CODES)
            result[mask] = choices[index]
    return result


# --------------------------------------------------------------------------- generic codes


@dataclass(frozen=True)
class PossibleOverlap:
    """A need filed under a generic code (e.g. 30000000, a whole division) and needs of other organisations whose
    specific codes fall under it: they may be the same purchase, which the CPV prefixes alone cannot tell. Offered to
    the coordinators as possible, never counted as an overlap."""

    cpv_prefix: str  # the specific needs' prefix at the level asked
    level: str
    label: str
    generic_code: str  # the generic code that covers the prefix
    organizations: tuple[str, ...]
    need_ids: tuple[int, ...]  # the specific needs under the prefix
    generic_need_ids: tuple[int, ...]  # the generic needs of other organisations
    annual_amount: Decimal  # euros, all the needs listed, per year
    total_amount: Decimal  # euros, all the needs listed, total estimated value
    possible: bool = True


def find_possible_overlaps(
    needs: pd.DataFrame,
    *,
    level: str,
    window_start: date,
    window_months: int = 12,
    labels: Mapping[str, str] | None = None,
) -> list[PossibleOverlap]:
    """For each need whose code is coarser than `level` (its significant digits are fewer than the level's prefix),
    the prefixes at `level` of the other organisations' needs under its code, in the window. Sorted by generic code
    then prefix."""
    length = _prefix_length(level, allowed=OVERLAP_LEVELS)
    labels = labels or {}
    frame = normalise_needs(needs)
    frame = frame.loc[_window_mask(frame, _as_day(window_start), window_months)]
    if frame.empty:
        return []
    significant = frame["cpv_code"].str.rstrip("0").str.pad(2, side="right", fillchar="0")
    generic = significant.str.len() < length
    if not generic.any():
        return []
    totals = need_totals(frame)
    specific = frame.loc[~generic].assign(prefix=frame.loc[~generic, "cpv_code"].str[:length])
    found = []
    for covering, generic_rows in frame.loc[generic].groupby(significant[generic], sort=True):
        under = specific.loc[specific["cpv_code"].str.startswith(covering)]
        generic_orgs = set(generic_rows["organization"])
        for prefix_digits, candidates in under.groupby("prefix", sort=True):
            # a need meets a need of another organisation only: one's own generic and specific needs are no overlap
            rows = candidates.loc[[generic_orgs != {org} for org in candidates["organization"]]]
            specific_orgs = set(rows["organization"])
            others = generic_rows.loc[[specific_orgs - {org} != set() for org in generic_rows["organization"]]]
            if rows.empty or others.empty:
                continue
            listed = pd.concat([rows, others])
            found.append(
                PossibleOverlap(
                    cpv_prefix=str(prefix_digits),
                    level=level,
                    label=labels.get(code_of_prefix(str(prefix_digits)), ""),
                    generic_code=code_of_prefix(str(covering)),
                    organizations=tuple(sorted(set(listed["organization"]))),
                    need_ids=tuple(sorted(int(i) for i in rows["id"])),
                    generic_need_ids=tuple(sorted(int(i) for i in others["id"])),
                    annual_amount=_euros(int(listed["annual_cents"].sum())),
                    total_amount=_euros(int(totals.loc[listed.index].sum())),
                )
            )
    return found


# --------------------------------------------------------------------------- splitting


def splitting_order(warning: SplittingWarning) -> tuple:
    """The order the splitting warnings are listed in: by organisation, year, CPV class."""
    return (warning.organization, warning.year, warning.cpv_prefix)


def find_splitting_warnings(needs: pd.DataFrame, *, thresholds: ThresholdTable | None = None) -> list[SplittingWarning]:
    """Needs of one organisation that look like one purchase split to stay under a threshold.

    Needs are grouped by organisation, CPV class (4-digit prefix) and calendar year of their
    start date. Within a group, for each threshold kind, the needs whose own total (over their
    duration) is below the threshold are considered: when at least two of them together reach
    it, that is a warning listing them. The thresholds are those in force on the group's
    earliest start date, for the organisation's class (central if any of its rows says so) and
    the nature of the class (works for division 45). A need already at or above a threshold on
    its own is not part of a split under it. Only the highest threshold crossed is reported for
    a group. A kind with no rule in force on that date (before the table starts) is not checked.
    Sorted by organisation, year, CPV class.
    """
    table = load_thresholds() if thresholds is None else thresholds
    frame = normalise_needs(needs)
    if frame.empty:
        return []
    keys = ["organization", "cpv_prefix", "year"]
    class_id, classes, works = _coded_prefixes(frame["cpv_code"], PREFIX_LENGTH[SPLITTING_CLASS_LEVEL])
    org_id, organizations = _coded(frame["organization"])
    rows = pd.DataFrame(
        {
            "organization": org_id,
            "cpv_prefix": class_id,
            "year": frame["start_date"].dt.year.to_numpy(dtype="int64"),
            "id": frame["id"].to_numpy(),
            "start_date": frame["start_date"].to_numpy(),
            "total": need_totals(frame).to_numpy(),
            "central": (frame["buyer_class"] == "central").to_numpy(),
            "works": works,
        }
    )
    rows["group"] = rows.groupby(keys, sort=True).ngroup()
    rows = rows.loc[rows.groupby("group")["id"].transform("size") >= 2]
    if rows.empty:
        return []

    groups = rows.groupby("group", sort=True).agg(
        organization=("organization", "first"),
        cpv_prefix=("cpv_prefix", "first"),
        year=("year", "first"),
        first_day=("start_date", "min"),
        central=("central", "any"),
        works=("works", "all"),
    )
    row_group = groups.index.get_indexer(rows["group"])  # position of each row's group
    totals = rows["total"].to_numpy()
    first_days = groups["first_day"].to_numpy()

    hits = {}
    for kind in ("formal", "no_competition"):
        group_threshold = _thresholds_on(
            table, kind, groups["works"].to_numpy(), groups["central"].to_numpy(), first_days
        )
        row_threshold = group_threshold[row_group]
        below = rows.loc[(row_threshold > 0) & (totals < row_threshold), ["group", "id", "total"]]
        sums = below.groupby("group", sort=True).agg(count=("id", "size"), total=("total", "sum"))
        sums["threshold"] = group_threshold[groups.index.get_indexer(sums.index)]
        crossing = sums.loc[(sums["count"] >= 2) & (sums["total"] >= sums["threshold"])]
        hits[kind] = (crossing, below)
    # Report the highest threshold crossed only once: formal wins over no_competition.
    formal_groups = hits["formal"][0].index
    hits["no_competition"] = (
        hits["no_competition"][0].loc[~hits["no_competition"][0].index.isin(formal_groups)],
        hits["no_competition"][1],
    )

    warnings = []
    for kind, (crossing, below) in hits.items():
        if crossing.empty:
            continue
        listed = below.loc[below["group"].isin(crossing.index)].sort_values(["group", "id"], kind="stable")
        slices = _slices(listed["group"].to_numpy())
        listed_ids = listed["id"].tolist()
        described = groups.loc[crossing.index]
        for group, organization, cpv_prefix, year, total, threshold in zip(
            crossing.index.tolist(),
            described["organization"].tolist(),
            described["cpv_prefix"].tolist(),
            described["year"].tolist(),
            crossing["total"].tolist(),
            crossing["threshold"].tolist(),
            strict=True,
        ):
            warnings.append(
                SplittingWarning(
                    organization=str(organizations[organization]),
                    cpv_prefix=str(classes[cpv_prefix]),
                    year=int(year),
                    need_ids=tuple(listed_ids[slice(*slices[group])]),
                    total_amount=_euros(total),
                    threshold_kind=kind,
                    threshold=_euros(threshold),
                    message=SPLITTING_MESSAGES[kind],
                )
            )
    warnings.sort(key=splitting_order)
    return warnings


def _thresholds_on(
    table: ThresholdTable, kind: str, works: np.ndarray, central: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """Per row, the `kind` threshold in cents in force on its day (0 when none is yet).

    Column-wise version of ThresholdTable.rule_in_force: the latest rule whose valid_from is
    on or before the day, searched in each (nature, buyer class) history.
    """
    result = np.zeros(len(days), dtype="int64")
    day_numbers = days.astype("datetime64[D]")
    for is_works in (False, True):
        for is_central in (False, True):
            mask = (works == is_works) & (central == is_central)
            history = table.history(
                kind,
                nature="works" if is_works else "supplies_services",
                buyer_class="central" if is_central else "other",
            )
            if not mask.any() or not history:
                continue
            starts = np.array([np.datetime64(rule.valid_from, "D") for rule in history])
            amounts = np.array([_cents(rule.amount) for rule in history], dtype="int64")
            position = np.searchsorted(starts, day_numbers[mask], side="right") - 1
            result[mask] = np.where(position >= 0, amounts[np.maximum(position, 0)], 0)
    return result


# --------------------------------------------------------------------------- internals


def _prefix_length(level: str, *, allowed: tuple[str, ...]) -> int:
    if level not in allowed:
        raise ValueError(f"unknown CPV level {level!r}; expected one of {allowed}")
    return PREFIX_LENGTH[level]


def _window_mask(frame: pd.DataFrame, window_start: date, window_months: int) -> pd.Series:
    whole = isinstance(window_months, int | np.integer) and not isinstance(window_months, bool)
    if not whole or window_months < 1:
        raise ValueError(f"window_months must be a positive integer, got {window_months!r}")
    start = pd.Timestamp(_as_day(window_start))
    end = start + pd.DateOffset(months=int(window_months))
    starts, ends = frame["start_date"], frame["current_contract_end"]
    # NaT compares False, so a missing contract end never brings a need in.
    return ((starts >= start) & (starts < end)) | ((ends >= start) & (ends < end))


def _coded(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for the values, numbered in the values' sorted order, and the distinct values."""
    codes, uniques = pd.factorize(values, sort=True)
    return codes, np.asarray(uniques, dtype=object)


def _coded_prefixes(cpv_codes: pd.Series, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per need: the code of its CPV prefix of `length` digits (numbered in sorted order), the
    distinct prefixes, and whether the need is works. String work is done per distinct code."""
    code_of_need, distinct_codes = pd.factorize(cpv_codes)
    distinct = [str(code) for code in np.asarray(distinct_codes, dtype=object).tolist()]
    prefix_of_code, prefixes = pd.factorize(np.array([c[:length] for c in distinct], dtype=object), sort=True)
    works_of_code = np.array([c.startswith(WORKS_DIVISION) for c in distinct], dtype=bool)
    return prefix_of_code[code_of_need], np.asarray(prefixes, dtype=object), works_of_code[code_of_need]


def _slices(sorted_keys: np.ndarray) -> dict[str, tuple[int, int]]:
    """For an array sorted by key, key -> (start, stop) positions of its run."""
    if len(sorted_keys) == 0:
        return {}
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [len(sorted_keys)]))
    return {sorted_keys[a]: (int(a), int(b)) for a, b in zip(starts, stops, strict=True)}


def _euros(cents) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _cents(amount: Decimal) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"threshold {amount} is not a whole number of cents")
    return int(cents)


def _as_day(value: date) -> date:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")


def _int_column(series: pd.Series, name: str) -> pd.Series:
    if series.dtype == "int64":
        return series
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.isna().any():
        raise ValueError(f"{name} must be an integer on every need")
    if pd.api.types.is_float_dtype(numbers) and (numbers % 1 != 0).any():
        raise ValueError(f"{name} must be a whole number on every need")
    return numbers.astype("int64")


def _text_column(series: pd.Series, name: str) -> pd.Series:
    """Strip surrounding spaces; work on the distinct values, then map back."""
    codes, uniques = pd.factorize(series)
    if (codes < 0).any():
        raise ValueError(f"{name} is required on every need")
    raw = [str(value) for value in np.asarray(uniques, dtype=object).tolist()]
    cleaned = [value.strip() for value in raw]
    if "" in cleaned:
        raise ValueError(f"{name} must not be empty")
    return _mapped_back(series, codes, raw, cleaned)


def _cpv_column(series: pd.Series) -> pd.Series:
    """8-digit CPV codes, a trailing check digit ('09310000-5') dropped; checked per distinct value."""
    codes, uniques = pd.factorize(series)
    if (codes < 0).any():
        raise ValueError("cpv_code is required on every need")
    raw = [str(value) for value in np.asarray(uniques, dtype=object).tolist()]
    cleaned = []
    for value in raw:
        match = _CPV_WITH_OPTIONAL_CHECK_DIGIT.match(value)
        if not match:
            raise ValueError(f"cpv_code must be an 8-digit CPV code, got {value!r}")
        cleaned.append(match.group(1))
    return _mapped_back(series, codes, raw, cleaned)


def _mapped_back(series: pd.Series, codes: np.ndarray, raw: list[str], cleaned: list[str]) -> pd.Series:
    if raw == cleaned and pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        return series  # already clean text: nothing to rebuild
    values = np.array(cleaned, dtype=object)[codes] if len(codes) else np.array([], dtype=object)
    return pd.Series(values, index=series.index, dtype="str")


def _date_column(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series
    else:
        try:
            values = pd.to_datetime(series, errors="raise")
        except (ValueError, TypeError) as error:
            raise ValueError(f"{name} must hold dates: {error}") from error
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.dt.normalize()
