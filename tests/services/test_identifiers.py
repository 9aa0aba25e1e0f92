"""No identifier shown to a user counts other users' activity: every table's ids are drawn at random, never taken
from a sequence shared by everyone (the gap between two of a supplier's own ids would count its competitors' bids)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.db import MAX_ID, random_id
from app.demo import seed_demo
from app.extensions import db as _db
from tests import factories
from tests.conftest import login

# Random ids in [1, 2**53 - 1]: among a few thousand rows, two ids closer than this are a sequence, not chance
# (the odds of it happening by chance are below one in a million).
MIN_RANDOM_GAP = 1000


def integer_keys() -> list[sa.Column]:
    """The single integer primary key of every mapped table (natural and composite keys are not counters)."""
    keys = []
    for mapper in _db.Model.registry.mappers:
        columns = list(mapper.local_table.primary_key.columns)
        if len(columns) == 1 and columns[0].type._type_affinity is sa.Integer:
            keys.append(columns[0])
    return sorted(keys, key=lambda column: column.table.name)


def smallest_gap(ids: list[int]) -> int:
    ordered = sorted(ids)
    return min(b - a for a, b in zip(ordered, ordered[1:], strict=False))


def test_every_integer_key_is_drawn_at_random_by_the_application():
    keys = integer_keys()
    assert len(keys) >= 20  # every feature's tables are mapped
    for column in keys:
        assert column.default is not None and column.default.arg.__wrapped__ is random_id, column.table.name
        assert column.server_default is None and column.autoincrement is False, column.table.name


def test_random_ids_are_positive_exact_in_javascript_and_unordered():
    drawn = [random_id() for _ in range(2000)]
    assert all(1 <= n <= MAX_ID == 2**53 - 1 for n in drawn)
    assert len(set(drawn)) == len(drawn)
    assert smallest_gap(drawn) > MIN_RANDOM_GAP
    assert drawn != sorted(drawn)


def test_the_database_keeps_no_sequence_and_64_bit_ids_and_references(app):
    """On PostgreSQL no id column has a default (a sequence) and every id and reference to one is a BIGINT;
    SQLite's INTEGER is already 64 bits and takes the value the application gives."""
    inspector = sa.inspect(_db.engine)
    keyed = {column.table.name for column in integer_keys()}
    for table in keyed:
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        assert columns["id"]["default"] is None, (table, columns["id"]["default"])
        references = [fk for fk in inspector.get_foreign_keys(table) if fk["referred_table"] in keyed]
        if _db.engine.dialect.name == "postgresql":
            assert isinstance(columns["id"]["type"], sa.BigInteger), table
            for fk in references:
                assert isinstance(columns[fk["constrained_columns"][0]]["type"], sa.BigInteger), (table, fk)
    if _db.engine.dialect.name == "postgresql":
        with _db.engine.connect() as connection:
            sequences = connection.execute(sa.text("SELECT sequence_name FROM information_schema.sequences")).all()
        assert [name for (name,) in sequences if name.split("_id_seq")[0] in keyed] == []


def test_every_table_filled_by_the_demo_has_ids_far_apart(session):
    seed_demo(session)
    session.commit()
    checked = []
    for column in integer_keys():
        ids = list(session.scalars(sa.select(column)))
        if len(ids) >= 2:
            assert smallest_gap(ids) > MIN_RANDOM_GAP, column.table.name
            checked.append(column.table.name)
    assert {"notification", "bid", "group_event", "need", "spend_block", "user_account"} <= set(checked)


@pytest.mark.usefixtures("clock")
def test_a_suppliers_notification_ids_say_nothing_of_the_bids_placed_in_between(client, db):
    group, _orgs, coordinator = factories.constituted_group()
    call = factories.call(coordinator, group, publish=True)
    ours = factories.user("supplier", email="nous@example.fr")
    competitors = [factories.user("supplier") for _ in range(3)]
    factories.bid(ours, call, "500000.00")
    for competitor in competitors:
        factories.bid(competitor, call, "480000.00")
    factories.bid(ours, call, "470000.00")
    db.session.commit()

    login(client, "nous@example.fr")
    page = client.get("/notifications").get_data(as_text=True)
    shown = [int(n) for n in re.findall(r"/notifications/(\d+)/read", page)]
    assert len(shown) == 2  # its own two receipts, nothing of the others
    # With one shared sequence the two ids would be 4 apart: the supplier's two bids plus the three in between.
    assert abs(shown[0] - shown[1]) > MIN_RANDOM_GAP


def test_a_long_list_of_ids_selects_exactly_those_rows_in_one_parameter_on_postgresql(db, query_counter):
    from app.db import id_among
    from app.organizations.models import Organization

    orgs = [factories.organization(f"O{i:02d}") for i in range(6)]
    db.session.commit()
    wanted = [orgs[1].id, orgs[4].id, orgs[4].id, MAX_ID]  # a repeated id, an id of no row
    with query_counter() as count:
        found = db.session.scalars(sa.select(Organization.code).where(id_among(db.session, Organization.id, wanted)))
        assert sorted(found) == ["O01", "O04"]
    (statement,) = count.statements
    if db.engine.dialect.name == "postgresql":
        assert "ANY" in statement and statement.count("%(") == 1
    assert db.session.scalars(sa.select(Organization.id).where(id_among(db.session, Organization.id, []))).all() == []
