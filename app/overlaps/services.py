"""The overlap map: where submitted needs of several organizations meet, computed on the needs table in bulk."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Any

import pandas as pd
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import freshness
from app.domain import overlaps as engine
from app.domain.bounds import FIRST_DAY, LAST_DAY
from app.domain.cpv import OVERLAP_LEVELS, PREFIX_LENGTH, WORKS_DIVISION, code_of_prefix
from app.domain.procedures import BEFORE_THRESHOLDS
from app.errors import NotPermitted, ValidationFailed
from app.i18n import day as format_day
from app.needs.models import Need
from app.organizations.models import Organization
from app.reference.services import labels as cpv_labels

MAX_WINDOW_MONTHS = 60


@dataclass
class OverlapQuery:
    level: str = "class"
    window_months: int = 12
    window_start: date | None = None  # default: today

    def validated(self, today: date) -> OverlapQuery:
        reasons: dict[str, list[str]] = {}
        if self.level not in OVERLAP_LEVELS:
            reasons["level"] = [str(_l("The level is division, group, class or category."))]
        if not isinstance(self.window_months, int) or not 1 <= self.window_months <= MAX_WINDOW_MONTHS:
            reasons["window_months"] = [
                str(_l("The window is a whole number of months from 1 to %(n)d.", n=MAX_WINDOW_MONTHS))
            ]
        start = self.window_start or today
        first = engine.load_thresholds().first_covered_day()
        if start < first:
            reasons["from"] = [str(_l(BEFORE_THRESHOLDS, day=format_day(first)))]
        elif start > LAST_DAY:
            years = {"first": FIRST_DAY.year, "last": LAST_DAY.year}
            reasons["from"] = [str(_l("Give a date from %(first)s to %(last)s.", **years))]
        if reasons:
            raise ValidationFailed(reasons)
        return OverlapQuery(self.level, self.window_months, start)

    @property
    def window_end(self) -> date:
        """The last day inside the window."""
        return self.window_start + relativedelta(months=self.window_months) - relativedelta(days=1)


@dataclass
class OverlapReport:
    """The overlaps shown (a page of them, or all for an export) with what a page shows around them."""

    query: OverlapQuery
    overlaps: list[engine.Overlap]
    needs: pd.DataFrame  # id-indexed rows of the needs shown (title, organization, amounts, dates)
    warnings: list[engine.SplittingWarning] = field(default_factory=list)
    heatmap: pd.DataFrame = field(default_factory=pd.DataFrame)  # organizations × prefixes, cents
    labels: dict[str, str] = field(default_factory=dict)  # prefix → label
    possible: list[engine.PossibleOverlap] = field(default_factory=list)  # generic codes over specific ones


def _check_reader(actor) -> None:
    if actor.role not in ("coordinator", "admin", "buyer"):
        raise NotPermitted(str(_l("Overlaps are for buyers and coordinators.")))


def submitted_needs_frame(
    session: Session, organization_id: int | None = None, condition=None, *, titles: bool = False
) -> pd.DataFrame:
    """Every submitted need (of one organization when given, matching `condition` when given) in one query,
    amounts in integer cents (exact on SQLite and PostgreSQL); with `titles`, their titles too (pages).

    The rows are read straight from the database cursor as plain tuples (no ORM rows): at 100,000 needs the
    per-row overhead of result objects would cost more than the whole overlap computation.
    """
    columns = {
        "id": Need.id,
        "organization_id": Need.organization_id,
        "cpv_code": Need.cpv_code,
        "annual_cents": ANNUAL_CENTS,
        "total_cents": TOTAL_CENTS,
        "duration_months": Need.duration_months,
        "start_date": Need.start_date,
        "current_contract_end": Need.current_contract_end,
        "organization": Organization.code,
        "buyer_class": sa.case((Organization.is_central_government, "central"), else_="other"),
    }
    if titles:
        columns["title"] = Need.title
    stmt = (
        sa.select(*columns.values())
        .join(Organization, Organization.id == Need.organization_id)
        .where(Need.status == "submitted")
    )
    if organization_id is not None:
        stmt = stmt.where(Need.organization_id == organization_id)
    if condition is not None:
        stmt = stmt.where(condition)
    connection = session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return pd.DataFrame(rows, columns=list(columns))


def _labels(session: Session, prefixes: list[str], lang: str) -> dict[str, str]:
    """prefix → label of the code that names it (a prefix padded with zeros: class 1510 → 15100000, which the
    CPV files as a group because its fourth digit is zero), in one query for the prefixes given."""
    found = cpv_labels(session, {code_of_prefix(p) for p in prefixes}, lang)
    return {p: found.get(code_of_prefix(p), "") for p in prefixes}


ANNUAL_CENTS = sa.cast(sa.func.round(Need.annual_amount * 100), sa.BigInteger)
# Each need's stored total estimated value (renewals and options included, R2121-1) in cents.
TOTAL_CENTS = sa.cast(sa.func.round(Need.total_amount * 100), sa.BigInteger)


def _prefix(level: str):
    return sa.func.substr(Need.cpv_code, 1, PREFIX_LENGTH[level])


def _in_window(query: OverlapQuery):
    """Submitted needs whose start or current contract end falls in the window (as engine.in_window)."""
    start = query.window_start
    end = start + relativedelta(months=query.window_months)
    return sa.and_(
        Need.status == "submitted",
        sa.or_(
            sa.and_(Need.start_date >= start, Need.start_date < end),
            sa.and_(Need.current_contract_end >= start, Need.current_contract_end < end),
        ),
    )


def in_divisions(divisions: list[str] | None):
    """Needs of the CPV divisions given (every need for None), as ranges of codes the index of the codes reads (a
    code has 8 digits: those of division 45 run from 45000000 to 45999999)."""
    if divisions is None:
        return sa.true()
    return sa.or_(*(Need.cpv_code.between(f"{d}000000", f"{d}999999") for d in sorted(divisions)))


def _shares(
    session: Session, query: OverlapQuery, divisions: list[str] | None
) -> tuple[pd.DataFrame, dict[str, tuple[int, ...]]]:
    """Each organization's share of each CPV prefix among the needs in the window (of the CPV `divisions` given,
    every need for None), one row per prefix and organization (engine.SHARE_COLUMNS), and each prefix's need ids
    (sorted), from one GROUP BY: the needs are read once. They are summed per organization id first and the
    organizations joined to those sums (not to every need); the sums are cast back to integers (PostgreSQL's sum
    of BIGINT is a NUMERIC, which the driver would turn into Decimals)."""
    prefix = _prefix(query.level).label("prefix")
    works = sa.func.min(sa.case((Need.cpv_code.startswith(WORKS_DIVISION), 1), else_=0))
    sums = (
        sa.select(
            prefix,
            Need.organization_id,
            sa.cast(sa.func.sum(ANNUAL_CENTS), sa.BigInteger).label("annual"),
            sa.cast(sa.func.sum(TOTAL_CENTS), sa.BigInteger).label("total"),
            works.label("works"),
            sa.func.aggregate_strings(sa.cast(Need.id, sa.String), ",").label("ids"),
        )
        .where(_in_window(query), in_divisions(divisions))
        .group_by(prefix, Need.organization_id)
        .subquery()
    )
    stmt = sa.select(
        sums.c.prefix,
        Organization.code,
        sums.c.annual,
        sums.c.total,
        Organization.is_central_government,
        sums.c.works,
        sums.c.ids,
    ).join(Organization, Organization.id == sums.c.organization_id)
    rows = []
    need_ids: dict[str, list[int]] = {}
    for p, org, annual, total, central, all_works, ids in session.execute(stmt):
        rows.append((str(p), str(org), int(annual), int(total), bool(central), bool(all_works)))
        need_ids.setdefault(str(p), []).extend(int(i) for i in ids.split(","))
    frame = pd.DataFrame(rows, columns=list(engine.SHARE_COLUMNS))
    return frame, {p: tuple(sorted(found)) for p, found in need_ids.items()}


def _own_code(session: Session, actor) -> str | None:
    return session.scalar(sa.select(Organization.code).where(Organization.id == actor.organization_id))


def find_overlaps(session: Session, actor, query: OverlapQuery, *, today: date) -> tuple[OverlapQuery, list]:
    """Every overlap of the query (the query validated and completed), largest total first, from SQL aggregates:
    amounts, members, procedures and need ids, without labels (see with_details). Buyers get the overlaps that
    include their own organization. The work grows with the number of prefixes and organizations, not of needs,
    and after a change of needs with the changed divisions only (see _division_overlaps)."""
    _check_reader(actor)
    query = query.validated(today)
    parts = per_division(
        session,
        ("overlaps", query.level, query.window_start, query.window_months),
        lambda divisions, every: _division_overlaps(session, query, divisions, every=every),
    )
    overlaps = sorted((o for found in parts.values() for o in found), key=lambda o: (-o.total_amount, o.cpv_prefix))
    if actor.role == "buyer":
        own = _own_code(session, actor)
        overlaps = [o for o in overlaps if own in o.organizations]
    return query, overlaps


def need_divisions(session: Session) -> list[str]:
    """The CPV divisions (2 digits) of the needs, whatever their status: each found from the one before in the
    index of the needs' codes (the smallest code after the division's last possible code), a few dozen index
    probes instead of a pass over the needs."""
    division = sa.func.substr(sa.func.min(Need.cpv_code), 1, 2, type_=sa.String)
    found = sa.select(division.label("division")).cte("divisions", recursive=True)
    following = sa.select(division).where(Need.cpv_code > found.c.division.concat("999999"))
    found = found.union_all(sa.select(following.scalar_subquery()).where(found.c.division.is_not(None)))
    return [str(d) for d in session.scalars(sa.select(found.c.division).where(found.c.division.is_not(None)))]


def _division_parts(session: Session) -> dict[str, tuple[str, ...]]:
    """division -> the topics its overlaps are computed from: its needs, and the organizations' codes and flags.
    The divisions are remembered until a need changes."""
    divisions = freshness.remembered(session, ("needs",), ("need_divisions",), lambda: tuple(need_divisions(session)))
    return {d: ("organizations", freshness.division_topic(d)) for d in divisions}


def per_division(session: Session, key: Hashable, compute: Callable[[list[str], bool], dict[str, tuple]]) -> dict:
    """division -> its part of an answer, each remembered until the division's needs (or the organizations) change:
    compute(divisions, every) answers the divisions not remembered, `every` when that is all the divisions of the
    needs (then it may read the needs without a condition)."""
    parts = _division_parts(session)
    return freshness.remembered_parts(
        session, parts, key, lambda divisions: compute(divisions, len(divisions) == len(parts))
    )


def by_division(
    divisions: list[str], items, prefix_of: Callable[[Any], str] = attrgetter("cpv_prefix")
) -> dict[str, tuple]:
    """division -> the items (their CPV code or prefix given by `prefix_of`) of that division, for each division
    given. An item of a division not given is left out: read without a condition, the needs may hold a division
    committed after the divisions were listed (at READ COMMITTED each statement sees the latest commits); it is
    computed with the next request, under the token that change gave it."""
    result: dict[str, list] = {d: [] for d in divisions}
    for item in items:
        found = result.get(prefix_of(item)[:2])
        if found is not None:
            found.append(item)
    return {d: tuple(found) for d, found in result.items()}


def _division_overlaps(
    session: Session, query: OverlapQuery, divisions: list[str], *, every: bool = False
) -> dict[str, tuple]:
    """division -> its overlaps with their need ids, for the divisions given (`every`: all the divisions of the
    needs; one GROUP BY of their needs' shares and ids in the window): an overlap's prefix is at the level or
    finer, inside one division."""
    shares, need_ids = _shares(session, query, None if every else divisions)
    overlaps = engine.overlaps_from_shares(
        shares, level=query.level, window_start=query.window_start, need_ids=need_ids
    )
    return by_division(divisions, overlaps)


def overlap_figures(session: Session, actor, *, today: date) -> dict:
    """The default map (CPV classes, 12 months from today) in three figures, for a home page."""
    _, overlaps = find_overlaps(session, actor, OverlapQuery("class", 12), today=today)
    return {
        "count": len(overlaps),
        "total": sum((o.total_amount for o in overlaps), Decimal("0.00")),
        "formal_together": sum(1 for o in overlaps if pooling_effect(o)),
    }


def pooling_effect(overlap: engine.Overlap) -> bool:
    """Together the members need a formal procedure, while at least one of them alone would not."""
    return overlap.procedure.code == "formal" and any(p.code != "formal" for p in overlap.procedure_alone.values())


def _need_rows(session: Session, condition) -> pd.DataFrame:
    """The submitted needs matching `condition` as id-indexed rows with their titles, amounts in cents (one
    query)."""
    frame = submitted_needs_frame(session, condition=condition, titles=True)
    frame = frame.astype({"annual_cents": "int64", "total_cents": "int64", "duration_months": "int64"})
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    frame["current_contract_end"] = pd.to_datetime(frame["current_contract_end"])
    return frame.set_index("id").sort_index()


def with_details(
    session: Session,
    actor,
    query: OverlapQuery,
    overlaps: list[engine.Overlap],
    *,
    lang: str = "fr",
    needs: bool = True,
    warnings: bool = False,
    limit: int | None = None,
) -> OverlapReport:
    """The given overlaps of find_overlaps (a page, or all of them) with their labels; with `needs` also the needs'
    rows and the organizations × prefixes heatmap of their yearly amounts; with `warnings` the splitting warnings
    (of their own organization for a buyer). With `limit`, the rows read are those of the first `limit` needs of
    each overlap and of each of the first `limit` warnings (a page shows no more). A fixed number of queries."""
    prefixes = [o.cpv_prefix for o in overlaps]
    warning_list = _splitting_warnings(session, actor) if warnings else []
    labels = _labels(session, sorted({*prefixes, *(w.cpv_prefix for w in warning_list)}), lang)
    overlaps = [replace(o, label=labels.get(o.cpv_prefix, "")) for o in overlaps]
    frame = pd.DataFrame()
    if needs:
        warned = Need.id.in_([i for w in warning_list[:limit] for i in w.need_ids[:limit]])
        if limit is None:
            in_overlaps = sa.and_(_in_window(query), _prefix(query.level).in_(prefixes))
            frame = _need_rows(session, sa.or_(in_overlaps, warned))
        else:
            frame = _need_rows(session, sa.or_(Need.id.in_([i for o in overlaps for i in o.need_ids[:limit]]), warned))
    return OverlapReport(
        query=query,
        overlaps=overlaps,
        needs=frame,
        warnings=warning_list,
        heatmap=_heatmap(overlaps) if needs and overlaps else pd.DataFrame(),
        labels=labels,
    )


def possible_overlaps(session: Session, actor, query: OverlapQuery, *, lang: str = "fr") -> list:
    """Needs filed under a generic code (e.g. 30000000, coarser than the query's level) beside other organizations'
    needs with specific codes under it, in the window: possible overlaps for a coordinator to check, sorted by
    generic code then prefix. Only the needs of the divisions that hold such a generic code are read; the answer is
    remembered per division until one of its needs changes (a generic code and the codes under it share a
    division)."""
    parts = per_division(
        session,
        ("possible", query.level, query.window_start, query.window_months, lang),
        lambda divisions, _every: _possible_overlaps(session, query, lang, divisions),
    )
    found = [p for division in sorted(parts) for p in parts[division]]
    if actor.role == "buyer":
        own = _own_code(session, actor)
        return [p for p in found if own in p.organizations]
    return found


def _possible_overlaps(session: Session, query: OverlapQuery, lang: str, divisions: list[str]) -> dict[str, tuple]:
    """division -> its possible overlaps, for the divisions given."""
    length = PREFIX_LENGTH[query.level]
    generic = sa.func.substr(Need.cpv_code, length, 9 - length) == "0" * (9 - length)
    division = sa.func.substr(Need.cpv_code, 1, 2)
    holding = list(session.scalars(sa.select(division).where(_in_window(query), in_divisions(divisions), generic)))
    if not holding:
        return by_division(divisions, ())
    frame = submitted_needs_frame(session, condition=sa.and_(_in_window(query), in_divisions(sorted(set(holding)))))
    if frame.empty:
        return by_division(divisions, ())
    found = engine.find_possible_overlaps(
        frame, level=query.level, window_start=query.window_start, window_months=query.window_months
    )
    labels = _labels(session, sorted({p.cpv_prefix for p in found}), lang)
    return by_division(divisions, (replace(p, label=labels.get(p.cpv_prefix, "")) for p in found))


def _heatmap(overlaps: list[engine.Overlap]) -> pd.DataFrame:
    """Organizations × prefixes of the yearly amounts in cents, from the overlaps' own aggregates."""
    cells = {
        (org, o.cpv_prefix): int(annual.scaleb(2)) for o in overlaps for org, (annual, _) in o.per_organization.items()
    }
    series = pd.Series(cells, dtype="int64")
    series.index.names = ["organization", "prefix"]
    table = series.unstack("prefix", fill_value=0).astype("int64").sort_index().sort_index(axis=1)
    return table


def _splitting_warnings(session: Session, actor) -> list[engine.SplittingWarning]:
    """The splitting warnings of every organization (a buyer's own), sorted by organization, year and CPV class.

    A warning's needs share a CPV class, hence a division: the warnings are remembered per division until one of its
    needs changes (or an organization's code or buyer class), and after a change only that division's needs are
    read and checked again."""
    organization_id = actor.organization_id if actor.role == "buyer" else None
    parts = per_division(
        session,
        ("splitting", organization_id),
        lambda divisions, every: _division_splitting_warnings(session, organization_id, divisions, every=every),
    )
    return sorted((warning for found in parts.values() for warning in found), key=engine.splitting_order)


def _division_splitting_warnings(
    session: Session, organization_id: int | None, divisions: list[str], *, every: bool = False
) -> dict[str, tuple]:
    """division -> its splitting warnings, from the submitted needs of the divisions given (`every`: all the
    divisions of the needs, read without a condition) of one organization (every organization for None)."""
    condition = None if every else in_divisions(divisions)
    frame = submitted_needs_frame(session, organization_id, condition)
    return by_division(divisions, engine.find_splitting_warnings(frame))


def overlap_report(
    session: Session, actor, query: OverlapQuery, *, today: date, lang: str = "fr", detail: bool = True
) -> OverlapReport:
    """Every overlap of the query with its labels and need ids; with `detail`, also the needs' rows, the heatmap
    and the splitting warnings (the exports). Pages show a page of find_overlaps through with_details instead."""
    query, overlaps = find_overlaps(session, actor, query, today=today)
    report = with_details(session, actor, query, overlaps, lang=lang, needs=detail, warnings=detail)
    return replace(report, possible=possible_overlaps(session, actor, query, lang=lang))
