"""The overlap map from SQL aggregates gives exactly what the engine computes over every need."""

import random
from datetime import date

import pytest
import sqlalchemy as sa

from app.domain import overlaps as engine
from app.domain.cpv import OVERLAP_LEVELS
from app.overlaps.services import (
    OverlapQuery,
    find_overlaps,
    overlap_figures,
    submitted_needs_frame,
    with_details,
)
from app.reference.models import CpvCode
from tests import factories

TODAY = date(2026, 11, 29)


@pytest.fixture
def dataset(db):
    """800 needs of six organizations (one a central buyer) over 40 real codes of four divisions, works included,
    with random amounts, durations, dates, contract ends and statuses."""
    orgs = [factories.organization(f"O{n}", is_central_government=n == 0) for n in range(6)]
    divisions = ("09", "45", "90", "30")
    codes = []
    for division in divisions:
        codes += db.session.scalars(
            sa.select(CpvCode.code).where(CpvCode.code.startswith(division)).order_by(CpvCode.code).limit(10)
        ).all()
    factories.bulk_needs(orgs, 800, cpvs=codes, start=date(2026, 1, 1), rng=random.Random(11))
    coordinator = factories.user("coordinator", organization_=orgs[1])
    buyer = factories.user("buyer", organization_=orgs[2])
    db.session.commit()
    return coordinator, buyer


def _expected(session, query, lang="fr"):
    labels = dict(session.execute(sa.select(CpvCode.code, CpvCode.label_fr)).all())
    return engine.find_overlaps(
        submitted_needs_frame(session),
        level=query.level,
        window_start=query.window_start,
        window_months=query.window_months,
        labels=labels,
    )


@pytest.mark.parametrize("level", OVERLAP_LEVELS)
@pytest.mark.parametrize("start,months", [(date(2027, 1, 1), 12), (date(2026, 3, 31), 1), (date(2027, 1, 31), 60)])
def test_sql_aggregates_give_the_engine_s_overlaps(session, dataset, level, start, months):
    coordinator, _ = dataset
    query, overlaps = find_overlaps(session, coordinator, OverlapQuery(level, months, start), today=TODAY)
    report = with_details(session, coordinator, query, overlaps)
    expected = _expected(session, query)
    assert len(expected) > 1 or months == 1
    assert report.overlaps == expected
    assert sum(len(o.need_ids) for o in report.overlaps) == len(report.needs)


def test_a_buyer_gets_the_engine_s_overlaps_that_include_its_organization(session, dataset):
    _, buyer = dataset
    query, overlaps = find_overlaps(session, buyer, OverlapQuery("group", 12, date(2027, 1, 1)), today=TODAY)
    expected = [o for o in _expected(session, query) if "O2" in o.organizations]
    assert expected and with_details(session, buyer, query, overlaps, needs=False).overlaps == expected


def test_the_home_figures_sum_the_default_map(session, dataset):
    coordinator, _ = dataset
    figures = overlap_figures(session, coordinator, today=date(2027, 1, 1))
    expected = _expected(session, OverlapQuery("class", 12, date(2027, 1, 1)))
    assert figures["count"] == len(expected) > 0
    assert figures["total"] == sum(o.total_amount for o in expected)
    together = [
        o
        for o in expected
        if o.procedure.code == "formal" and any(p.code != "formal" for p in o.procedure_alone.values())
    ]
    assert figures["formal_together"] == len(together)


def test_a_page_of_overlaps_reads_the_needs_of_its_own_prefixes_only(session, dataset):
    coordinator, _ = dataset
    query, overlaps = find_overlaps(session, coordinator, OverlapQuery("category", 60, date(2026, 1, 1)), today=TODAY)
    page = overlaps[2:5]
    report = with_details(session, coordinator, query, page)
    assert [o.cpv_prefix for o in report.overlaps] == [o.cpv_prefix for o in page]
    assert set(report.needs.index) == {i for o in report.overlaps for i in o.need_ids}
    assert set(report.heatmap.columns) == {o.cpv_prefix for o in page}
