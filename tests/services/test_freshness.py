"""The overlap and spend maps are remembered between requests, and never answered stale: every write to the data
they come from (a new, changed or removed need, by the ORM or a bulk insert; an organization renamed; a spend
import and its rollback; a transaction rolled back) makes the next request compute them again."""

import re
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app import freshness
from app.groups.models import GroupNeed, Membership, PurchaseGroup
from app.needs.models import Need
from app.overlaps.services import OverlapQuery, find_overlaps
from app.spend import services as spend
from app.spend.models import EmissionMapping, SpendCell
from tests import factories
from tests.factories import ledger

TODAY = date(2026, 11, 29)
QUERY = OverlapQuery("class", 60, date(2027, 1, 1))


@pytest.fixture
def world(db):
    dm, chu, ub = (factories.organization(code) for code in ("DM", "CHU", "UB"))
    coordinator = factories.user("coordinator", organization_=dm)
    admin = factories.user("admin")
    factories.need(dm, cpv="09310000", annual="100000.00")
    factories.need(chu, cpv="09310000", annual="50000.00")
    db.session.commit()
    return {"DM": dm, "CHU": chu, "UB": ub, "coordinator": coordinator, "admin": admin}


def overlaps(session, world) -> dict[str, tuple]:
    _, found = find_overlaps(session, world["coordinator"], QUERY, today=TODAY)
    return {o.cpv_prefix: (o.organizations, o.annual_amount) for o in found}


@contextmanager
def statements_sent(*words: str):
    """The statements sent within the block that hold every one of `words`, each as (statement, the set of its
    parameters' values)."""
    statements: list[tuple[str, set]] = []

    def record(conn, cursor, statement, parameters, *args):
        if all(word in statement for word in words):
            values = parameters.values() if isinstance(parameters, dict) else parameters or ()
            statements.append((statement, set(values)))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def remembered_twice(session, world) -> dict[str, tuple]:
    """The overlaps, checked to be answered from memory the second time (no GROUP BY sent)."""
    first = overlaps(session, world)
    session.commit()
    with statements_sent("GROUP BY") as statements:
        assert overlaps(session, world) == first
    assert not statements, statements
    session.commit()
    return first


def test_a_new_need_is_in_the_next_answer(session, world):
    assert remembered_twice(session, world) == {"0931": (("CHU", "DM"), Decimal("150000.00"))}
    factories.need(world["UB"], cpv="09310000", annual="10000.00")
    session.commit()
    assert overlaps(session, world)["0931"] == (("CHU", "DM", "UB"), Decimal("160000.00"))


def test_a_changed_or_withdrawn_need_is_in_the_next_answer(session, world):
    remembered_twice(session, world)
    need = session.scalar(sa.select(Need).where(Need.organization_id == world["CHU"].id))
    need.annual_amount = Decimal("70000.00")
    session.commit()
    assert remembered_twice(session, world)["0931"][1] == Decimal("170000.00")
    need.status = "withdrawn"
    session.commit()
    assert overlaps(session, world) == {}


def test_a_bulk_insert_that_skips_the_orm_is_in_the_next_answer(session, world):
    remembered_twice(session, world)
    factories.bulk_needs([world["UB"], world["DM"]], 2, cpvs=("55520000",), start=date(2027, 3, 1))
    session.commit()
    assert set(overlaps(session, world)) == {"0931", "5552"}


def test_a_renamed_organization_is_in_the_next_answer(session, world):
    remembered_twice(session, world)
    world["CHU"].code = "CHUD"
    session.commit()
    assert overlaps(session, world)["0931"][0] == ("CHUD", "DM")


def test_what_a_rolled_back_transaction_saw_is_never_answered(session, world):
    remembered_twice(session, world)
    factories.need(world["UB"], cpv="09310000", annual="10000.00")
    assert "UB" in overlaps(session, world)["0931"][0]  # seen (and remembered) inside the transaction
    session.rollback()
    assert overlaps(session, world)["0931"][0] == ("CHU", "DM")
    factories.need(world["UB"], cpv="09310000", annual="20000.00")  # another change, committed this time
    session.commit()
    assert overlaps(session, world)["0931"] == (("CHU", "DM", "UB"), Decimal("170000.00"))


def test_without_a_token_nothing_is_remembered(session, world):
    session.execute(sa.delete(freshness.DataVersion))
    session.commit()
    assert freshness.tokens(session, ("needs",)) is None
    assert overlaps(session, world) == overlaps(session, world)
    factories.need(world["UB"], cpv="09310000", annual="10000.00")  # the trigger puts a token back
    session.commit()
    assert freshness.tokens(session, ("needs",)) is not None
    assert overlaps(session, world)["0931"][0] == ("CHU", "DM", "UB")


def _spend_amounts(session, world) -> dict[str, Decimal]:
    result = spend.spend_map(session, world["coordinator"], level="division")
    session.commit()
    return {row.prefix: row.amount for row in result.rows}


def test_the_spend_map_follows_an_import_and_its_rollback(session, world):
    assert _spend_amounts(session, world) == {"09": Decimal("0.00")}  # the needs only
    data = ledger("01/02/2025;A;;30192000;100,00;;")
    record = spend.import_spend(session, world["coordinator"], data, "a.csv", organization="DM")
    session.commit()
    assert _spend_amounts(session, world)["30"] == Decimal("100.00")
    assert _spend_amounts(session, world)["30"] == Decimal("100.00")  # remembered
    spend.rollback_import(session, world["admin"], record.id)
    session.commit()
    assert "30" not in _spend_amounts(session, world)


def test_the_spend_map_follows_the_needs_beside_it(session, world):
    before = spend.spend_map(session, world["coordinator"], level="division").rows[0].needs_annual
    session.commit()
    factories.need(world["UB"], cpv="09310000", annual="10000.00")
    session.commit()
    after = spend.spend_map(session, world["coordinator"], level="division").rows[0].needs_annual
    assert after == before + Decimal("10000.00")


def test_the_spend_map_after_a_need_changes_reads_that_division_s_needs_only(session, world):
    """The needs beside the spend map are summed per CPV division, each remembered until its own needs change: after
    a need changes, the next map reads that division's needs only and equals a map from scratch; a renamed
    organization is read again in every division."""
    for cpv in ("45210000", "55520000"):
        factories.need(world["DM"], cpv=cpv, annual="300000.00")
        factories.need(world["UB"], cpv=cpv, annual="20000.00")
    session.commit()

    def needs_of() -> tuple[dict[str, Decimal], list[str]]:
        found = spend.spend_map(session, world["coordinator"], level="class")
        session.commit()
        return {row.prefix: row.needs_annual for row in found.rows}, found.organizations

    assert needs_of() == ({"0931": 150000, "4521": 320000, "5552": 320000}, ["CHU", "DM", "UB"])
    need = session.scalar(sa.select(Need).where(Need.cpv_code == "45210000", Need.organization_id == world["DM"].id))
    need.annual_amount = Decimal("350000.00")
    session.commit()
    with statements_sent("FROM need", "GROUP BY") as statements:
        second = needs_of()
    assert len(statements) == 1  # the needs' sums, of division 45 only
    ((_statement, values),) = statements
    assert {"45000000", "45999999"} <= values and not {"09000000", "55000000"} & values
    assert second == ({"0931": 150000, "4521": 370000, "5552": 320000}, ["CHU", "DM", "UB"])
    freshness.forget_all()
    assert needs_of() == second  # from scratch
    world["UB"].code = "UBO"
    session.commit()
    assert needs_of() == (second[0], ["CHU", "DM", "UBO"])


def test_the_spend_apis_follow_an_import_and_answer_each_reader_its_own_scope(client, session, world):
    from tests.conftest import api_token

    buyer = factories.user("buyer", email="buyer@chu.fr", organization_=world["CHU"])
    world["coordinator"].email = "coord@dm.fr"
    for org in ("DM", "CHU"):
        data = ledger(f"01/02/2025;A{org};;30192000;100,00;;")
        spend.import_spend(session, world["coordinator"], data, f"{org}.csv", organization=org)
    session.commit()
    coordinator, chu = api_token(client, "coord@dm.fr"), api_token(client, buyer.email)

    def potential(headers) -> str:
        return client.get("/api/v1/spend/pooling?level=division", headers=headers).get_json()["pooling_potential_eur"]

    def local(headers) -> str:
        return client.get("/api/v1/spend/local-share", headers=headers).get_json()["overall"]["total_eur"]

    def cube_organizations(headers) -> list[str]:
        items = client.get("/api/v1/spend/cube?level=division", headers=headers).get_json()["items"]
        return sorted(item["organization"] for item in items)

    assert potential(coordinator) == potential(coordinator) == "200.00"
    assert local(coordinator) == local(coordinator) == "200.00"
    assert cube_organizations(coordinator) == cube_organizations(coordinator) == ["CHU", "DM"]
    assert potential(chu) == "0.00"  # a buyer reads its own organization's spend only: nothing is shared
    assert (local(chu), cube_organizations(chu)) == ("100.00", ["CHU"])
    data = ledger("01/03/2025;B;;30192000;50,00;;")
    spend.import_spend(session, world["coordinator"], data, "more.csv", organization="UB")
    session.commit()
    assert potential(coordinator) == "250.00"
    assert local(coordinator) == "250.00"
    assert cube_organizations(coordinator) == ["CHU", "DM", "UB"]


@pytest.mark.parametrize(
    "table,topics",
    [
        ("need", ("needs",)),
        ("organization", ("needs", "spend", "organizations")),
        ("spend_cell", ("spend",)),
        ("supplier_company", ("spend",)),
        ("emission_mapping", ("spend",)),
        ("purchase_group", ("groups",)),
        ("membership", ("groups",)),
        ("group_need", ("groups",)),
    ],
)
def test_every_write_to_a_table_the_answers_read_changes_its_topics_token(session, world, table, topics):
    """The triggers are there (a migration rebuilding a table on SQLite would drop them) and fire on INSERT,
    UPDATE and DELETE."""
    factories.supplier_company()
    factories.bulk_spend_cells([world["DM"]], 2)
    session.merge(EmissionMapping(division="98", category_key=None))
    [group_id] = factories.bulk_groups([world["DM"], world["CHU"]], 1)
    spare_need = factories.need(world["UB"])
    session.commit()
    other = tuple(t for t in freshness.TOPICS if t not in topics)

    def changes(statement: str) -> None:
        before = freshness.tokens(session, freshness.TOPICS_ALL)
        session.execute(sa.text(statement))
        session.commit()
        after = freshness.tokens(session, freshness.TOPICS_ALL)
        changed = {t for t, b, a in zip(freshness.TOPICS_ALL, before, after, strict=True) if b != a}
        assert changed == set(topics), (statement, changed)
        assert not changed & set(other)

    key = "division" if table == "emission_mapping" else "id"
    changes(f"UPDATE {table} SET {key} = {key}")  # noqa: S608 - a table name of the parameters
    if table in ("spend_cell", "emission_mapping", "group_need"):
        changes(f"DELETE FROM {table}")  # noqa: S608
    elif table == "need":
        changes("DELETE FROM need WHERE id NOT IN (SELECT need_id FROM group_need)")
    inserts = {
        "need": lambda: factories.need(world["DM"]),
        "organization": lambda: factories.organization("NEW"),
        "spend_cell": lambda: factories.bulk_spend_cells([world["DM"]], 1),
        "supplier_company": lambda: factories.supplier_company(trades=()),
        "emission_mapping": lambda: session.add(EmissionMapping(division="01", category_key=None)),
        "purchase_group": lambda: session.add(PurchaseGroup(name="New", coordinator_organization_id=world["DM"].id)),
        "membership": lambda: session.add(Membership(group_id=group_id, organization_id=world["UB"].id)),
        "group_need": lambda: session.add(
            GroupNeed(
                group_id=group_id,
                need_id=spare_need.id,
                organization_id=world["UB"].id,
                annual_amount=spare_need.annual_amount,
            )
        ),
    }
    before = freshness.tokens(session, freshness.TOPICS_ALL)
    inserts[table]()
    session.commit()
    after = freshness.tokens(session, freshness.TOPICS_ALL)
    assert {t for t, b, a in zip(freshness.TOPICS_ALL, before, after, strict=True) if b != a} == set(topics)


def test_the_overlap_api_follows_a_new_need_and_answers_a_buyer_its_own_overlaps(client, session, world):
    from tests.conftest import api_token

    world["coordinator"].email = "coord@dm.fr"
    factories.user("buyer", email="buyer@ub.fr", organization_=world["UB"])
    factories.need(world["DM"], cpv="55520000", annual="30000.00")
    factories.need(world["UB"], cpv="55520000", annual="20000.00")
    session.commit()
    coordinator, ub = api_token(client, "coord@dm.fr"), api_token(client, "buyer@ub.fr")
    path = "/api/v1/overlaps?level=class&window_months=60&from=2027-01-01"

    def prefixes(headers) -> list[str]:
        return [item["cpv_prefix"] for item in client.get(path, headers=headers).get_json()["items"]]

    assert sorted(prefixes(coordinator)) == sorted(prefixes(coordinator)) == ["0931", "5552"]
    assert prefixes(ub) == ["5552"]  # a buyer sees the overlaps of its own organization only
    factories.need(world["UB"], cpv="09310000", annual="5000.00")
    session.commit()
    assert sorted(prefixes(ub)) == ["0931", "5552"]


def test_the_overlap_impacts_follow_a_change_of_the_emission_mapping(client, session, world):
    """The impact figures are remembered with the overlaps; an administrator's new mapping of a division is in the
    next answer (emission_mapping is part of the `spend` topic)."""
    from tests.conftest import api_token

    world["coordinator"].email = "coord@dm.fr"
    factories.need(world["DM"], cpv="55520000", annual="30000.00")
    factories.need(world["UB"], cpv="55520000", annual="20000.00")
    session.commit()
    headers = api_token(client, "coord@dm.fr")
    path = "/api/v1/overlaps?level=class&window_months=60&from=2027-01-01"

    def catering_tco2e():
        items = client.get(path, headers=headers).get_json()["items"]
        return next(item["impact"]["tco2e"] for item in items if item["cpv_prefix"] == "5552")

    estimated = catering_tco2e()
    assert Decimal(estimated) > 0 and catering_tco2e() == estimated
    session.merge(EmissionMapping(division="55", category_key=None, note="not estimated"))
    session.commit()
    assert Decimal(catering_tco2e()) == 0  # no category: nothing estimated from the amount


def logged_in_readers(new_client):
    """email -> a client logged in as that user (each its own session), made on first use."""
    from tests.conftest import login

    clients = {}

    def reader(email: str):
        if email not in clients:
            clients[email] = new_client()
            assert login(clients[email], email).status_code == 302
        return clients[email]

    return reader


def test_the_overlap_map_page_is_remembered_per_reader_and_follows_a_new_need(new_client, session, world):
    """The map's results are rendered once per reader's role and organization: a buyer never gets a coordinator's
    page (its overlaps, its buttons), and a new need is on the next page of everyone."""
    world["coordinator"].email = "coord@dm.fr"
    factories.user("buyer", email="buyer@ub.fr", organization_=world["UB"])
    factories.need(world["DM"], cpv="55520000", annual="30000.00")
    factories.need(world["UB"], cpv="55520000", annual="20000.00")
    session.commit()
    path = "/overlaps?level=class&window_months=60&from=2027-01-01"

    reader = logged_in_readers(new_client)

    def page(email: str) -> str:
        return reader(email).get(path).get_data(as_text=True)

    def prefixes(html: str) -> list[str]:
        return sorted(re.findall(r'<tbody class="overlap[^"]*" id="[^"]*" data-prefix="(\d+)"', html))

    coordinator = page("coord@dm.fr")
    assert prefixes(coordinator) == ["0931", "5552"] and "groups/new" in coordinator
    buyer = page("buyer@ub.fr")
    assert prefixes(buyer) == ["5552"] and "groups/new" not in buyer
    factories.need(world["UB"], cpv="09310000", annual="5000.00")
    session.commit()
    assert prefixes(page("buyer@ub.fr")) == ["0931", "5552"]

    def yearly(html: str) -> str:
        text = re.search(r'data-summary="annual">([^<]*)<', html).group(1)
        return "".join(ch for ch in text if ch.isdigit())

    assert yearly(coordinator) == "200000"  # 100,000 + 50,000 (0931) + 30,000 + 20,000 (5552) € a year
    assert yearly(page("coord@dm.fr")) == "205000"


def test_the_overlap_impacts_follow_a_spend_import(client, session, world):
    """The local share of an overlap comes from the members' past spend, remembered apart from the needs: an import
    is in the next answer."""
    from tests.conftest import api_token

    world["coordinator"].email = "coord@dm.fr"
    session.commit()
    headers = api_token(client, "coord@dm.fr")
    path = "/api/v1/overlaps?level=class&window_months=60&from=2027-01-01"

    def local_share():
        items = client.get(path, headers=headers).get_json()["items"]
        return next(item["impact"]["local_share_pct"] for item in items if item["cpv_prefix"] == "0931")

    assert local_share() is None and local_share() is None  # no past spend yet
    data = ledger("01/02/2025;A1;;09310000;100,00;;21000")
    spend.import_spend(session, world["coordinator"], data, "dm.csv", organization="DM")
    session.commit()
    assert Decimal(local_share()) == 100


def test_a_writer_that_has_not_committed_keeps_no_other_writer_of_its_topic_waiting(session, world):
    """A long import writes spend cells for minutes: meanwhile a supplier registers (supplier_company, the same
    `spend` topic) without waiting for it, and the token changes as each transaction commits. (PostgreSQL: the token
    row is locked only while a transaction commits; SQLite allows one writer at a time anyway.)"""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer of the database")
    engine = session.get_bind()

    def token() -> str:
        with engine.connect() as connection:
            return connection.execute(sa.select(freshness.DataVersion.token).filter_by(topic="spend")).scalar()

    factories.bulk_spend_cells([world["DM"]], 2)
    factories.supplier_company()
    session.commit()
    before = token()
    importing = engine.connect()
    try:
        importing.begin()
        org_id = world["DM"].id
        written = importing.execute(
            sa.text("UPDATE spend_cell SET amount = amount + 1 WHERE organization_id = :org"), {"org": org_id}
        )
        assert written.rowcount == 2
        importing.execute(sa.text("UPDATE organization SET name = name WHERE id = :org"), {"org": org_id})
        with engine.connect() as registering:
            registering.execute(sa.text("SET lock_timeout = '3s'"))
            registering.execute(sa.text("UPDATE supplier_company SET name = name"))
            registering.execute(sa.text("UPDATE organization SET name = name WHERE id <> :org"), {"org": org_id})
            registering.commit()  # not kept waiting by the import's open transaction
        after_other = token()
        assert after_other != before
        importing.commit()
        assert token() not in (before, after_other)  # the import's commit changed it again
    finally:
        importing.close()


def test_the_spend_map_page_is_remembered_per_reader_and_follows_an_import(new_client, session, world):
    """The spend map's results are rendered once per reader's role and organization: a buyer never gets the page of
    a coordinator (who sees every organization's spend), and an import is on the next page of everyone."""
    world["coordinator"].email = "coord@dm.fr"
    factories.user("buyer", email="buyer@chu.fr", organization_=world["CHU"])
    for org, amount in (("DM", "100,00"), ("CHU", "40,00")):
        data = ledger(f"01/02/2025;A{org};;30192000;{amount};;")
        spend.import_spend(session, world["coordinator"], data, f"{org}.csv", organization=org)
    session.commit()
    reader = logged_in_readers(new_client)

    def total(email: str) -> str:
        html = reader(email).get("/spend").get_data(as_text=True)
        text = re.search(r'data-summary="total">([^<]*)<', html).group(1)
        return "".join(ch for ch in text if ch.isdigit())

    assert total("coord@dm.fr") == total("coord@dm.fr") == "140"
    assert total("buyer@chu.fr") == "40"  # its own organization's spend only
    data = ledger("01/03/2025;B;;30192000;60,00;;")
    spend.import_spend(session, world["coordinator"], data, "more.csv", organization="CHU")
    session.commit()
    assert (total("coord@dm.fr"), total("buyer@chu.fr")) == ("200", "100")


def test_the_needs_list_is_remembered_per_reader_and_follows_every_change_of_a_need(
    new_client, session, world, query_counter
):
    """The needs list's rows are rendered once per reader's role and organization and query: a buyer never gets the
    coordinators' list (the other organizations' needs) nor they its drafts, and a new, changed or submitted need or
    a renamed organization is on the next page."""
    world["coordinator"].email = "coord@dm.fr"
    factories.user("buyer", email="buyer@ub.fr", organization_=world["UB"])
    draft = factories.need(world["UB"], title="UB draft", status="draft")
    session.commit()
    reader = logged_in_readers(new_client)

    def titles(email: str, path: str = "/needs") -> list[str]:
        html = reader(email).get(path).get_data(as_text=True)
        return sorted(re.findall(r'<td class="need-title"><a href="[^"]+">([^<]+)</a>', html))

    assert titles("coord@dm.fr") == ["CHU 09310000", "DM 09310000"]
    with query_counter(remembered=True) as remembered:
        assert titles("coord@dm.fr") == ["CHU 09310000", "DM 09310000"]
    with query_counter() as computed:
        assert titles("coord@dm.fr") == ["CHU 09310000", "DM 09310000"]
    assert remembered.value < computed.value
    assert titles("buyer@ub.fr") == ["UB draft"]
    assert titles("coord@dm.fr", "/needs?sort=title&dir=desc") == ["CHU 09310000", "DM 09310000"]
    draft.status = "submitted"
    session.commit()
    assert titles("coord@dm.fr") == ["CHU 09310000", "DM 09310000", "UB draft"]
    assert titles("buyer@ub.fr") == ["UB draft"]
    session.scalar(sa.select(Need).where(Need.organization_id == world["CHU"].id)).title = "CHU renamed"
    session.commit()
    assert titles("coord@dm.fr") == ["CHU renamed", "DM 09310000", "UB draft"]
    factories.bulk_needs([world["UB"]], 1)
    session.commit()
    assert len(titles("buyer@ub.fr")) == 2
    world["CHU"].code = "CHUD"
    session.commit()
    assert ">CHUD</abbr>" in reader("coord@dm.fr").get("/needs").get_data(as_text=True)


def _division_tokens(session) -> dict[str, str]:
    rows = session.execute(sa.select(freshness.DataVersion.topic, freshness.DataVersion.token))
    return {topic: token for topic, token in rows if topic.startswith(freshness.DIVISION_TOPIC)}


def _changed(before: dict, after: dict) -> set[str]:
    return {topic for topic in before.keys() | after.keys() if before.get(topic) != after.get(topic)}


def test_a_write_to_a_need_changes_the_token_of_its_division_only(session, world):
    """The division of its code before and after the write: a need moved to another division changes both."""
    need = session.scalar(sa.select(Need).where(Need.organization_id == world["CHU"].id))
    before = _division_tokens(session)
    factories.need(world["UB"], cpv="55520000")
    session.commit()
    after = _division_tokens(session)
    assert _changed(before, after) == {"needs_55"}
    need.cpv_code = "45000000"
    session.commit()
    assert _changed(after, _division_tokens(session)) == {"needs_09", "needs_45"}
    before = _division_tokens(session)
    session.execute(sa.delete(Need).where(Need.cpv_code.startswith("55")))
    session.commit()
    assert _changed(before, _division_tokens(session)) == {"needs_55"}
    if session.get_bind().dialect.name == "postgresql":  # no row triggers: every division changes
        before = _division_tokens(session)
        session.execute(sa.text("TRUNCATE need CASCADE"))
        session.commit()
        assert _changed(before, _division_tokens(session)) == set(before)


def _spy(monkeypatch, module, name: str, parts) -> list:
    """The calls of module.name (still doing its work), each as parts(its arguments) sorted."""
    calls = []
    real = getattr(module, name)

    def spied(*args, **kwargs):
        calls.append(sorted(parts(args)))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spied)
    return calls


def test_a_changed_need_computes_its_own_divisions_overlaps_only(client, session, world, monkeypatch):
    """Overlaps, possible overlaps and impact figures are remembered per division: after a need changes, the next
    answer computes that division's again and reuses the others', and equals an answer computed from scratch."""
    from app.impact import services as impact_services
    from app.overlaps import services as overlap_services
    from tests.conftest import api_token

    for cpv in ("55520000", "55000000", "45210000"):  # three divisions, a generic code beside a specific one
        factories.need(world["DM"], cpv=cpv, annual="300000.00")
        factories.need(world["UB"], cpv=cpv.replace("55000000", "55520000"), annual="20000.00")
    world["coordinator"].email = "coord@x.fr"
    session.commit()
    headers = api_token(client, "coord@x.fr")
    path = "/api/v1/overlaps?level=class&from=2027-01-01&window_months=60"
    first = client.get(path, headers=headers).get_json()
    assert {o["cpv_prefix"] for o in first["items"]} == {"0931", "4521", "5552"}
    assert [p["cpv_prefix"] for p in first["possible"]] == ["5552"]

    computed = {
        name: _spy(monkeypatch, module, name, parts)
        for module, name, parts in (
            (overlap_services, "_division_overlaps", lambda args: args[2]),  # (session, query, divisions)
            (overlap_services, "_possible_overlaps", lambda args: args[3]),  # (session, query, lang, divisions)
            (impact_services, "_overlap_impacts", lambda args: [o.cpv_prefix for o in args[1]]),
        )
    }
    need = session.scalar(sa.select(Need).where(Need.cpv_code == "45210000", Need.organization_id == world["DM"].id))
    need.annual_amount = Decimal("350000.00")
    session.commit()
    second = client.get(path, headers=headers).get_json()
    assert computed == {
        "_division_overlaps": [["45"]],
        "_possible_overlaps": [["45"]],
        "_overlap_impacts": [["4521"]],
    }
    changed = next(o for o in second["items"] if o["cpv_prefix"] == "4521")
    assert changed["annual_amount_eur"] == "370000.00"
    freshness.forget_all()
    assert client.get(path, headers=headers).get_json() == second  # as computed from scratch
    assert computed["_division_overlaps"][-1] == ["09", "45", "55"]

    world["UB"].code = "UBO"  # the organizations' codes are part of every division's overlaps
    session.commit()
    renamed = client.get(path, headers=headers).get_json()
    assert computed["_division_overlaps"][-1] == ["09", "45", "55"]
    assert all("UBO" in o["organizations"] for o in renamed["items"] if o["cpv_prefix"] != "0931")


def test_a_changed_need_checks_its_own_divisions_splitting_only(session, world, monkeypatch):
    """The splitting warnings are remembered per division: after a need changes, only its division's needs are
    checked again, and the warnings equal those checked from scratch, in the same order."""
    from app.overlaps import services as overlap_services

    for cpv in ("33141000", "30192000"):  # two divisions, three needs of one class each: 3 × 80,000 ≥ 216,000
        for month in (1, 5, 9):
            factories.need(world["DM"], cpv=cpv, annual="80000.00", months=12, start=date(2027, month, 1))
    session.commit()
    coordinator = world["coordinator"]

    def described():
        return [
            (w.organization, w.cpv_prefix, w.year, w.total_amount, w.need_ids)
            for w in overlap_services._splitting_warnings(session, coordinator)
        ]

    first = described()
    assert [(o, prefix, total) for o, prefix, _, total, _ in first] == [
        ("DM", "3019", Decimal("240000.00")),
        ("DM", "3314", Decimal("240000.00")),
    ]
    checked = _spy(monkeypatch, overlap_services, "_division_splitting_warnings", lambda args: args[2])
    assert described() == first and checked == []  # remembered
    need = session.scalar(sa.select(Need).where(Need.cpv_code == "33141000").order_by(Need.start_date).limit(1))
    need.annual_amount = Decimal("90000.00")
    session.commit()
    second = described()
    assert checked == [["33"]]
    assert second[0] == first[0] and second[1][3] == Decimal("250000.00")
    freshness.forget_all()
    assert described() == second  # as checked from scratch
    assert checked[-1] == ["09", "30", "33"]  # every division of the needs (the world has needs of 09)


def test_a_division_read_without_a_condition_but_not_asked_for_is_left_out(session, world):
    """All the needs are read without a condition when every division is computed: a need of a division committed
    after the divisions were listed is left for the next request, not an error."""
    from app.overlaps import services as overlap_services

    for cpv in ("33141000", "30192000"):
        for month in (1, 5, 9):
            factories.need(world["DM"], cpv=cpv, annual="80000.00", months=12, start=date(2027, month, 1))
    session.commit()
    found = overlap_services._division_splitting_warnings(session, None, ["30"], every=True)
    assert list(found) == ["30"] and [w.cpv_prefix for w in found["30"]] == ["3019"]


def test_a_with_query_that_only_reads_keeps_the_remembered_answers():
    assert freshness._reads_only("WITH RECURSIVE divisions(division) AS (SELECT 1) SELECT division FROM divisions")
    assert freshness._reads_only("  select 1")
    assert not freshness._reads_only("WITH moved AS (DELETE FROM need RETURNING id) SELECT count(*) FROM moved")
    assert not freshness._reads_only("UPDATE need SET title = title")
    assert not freshness._reads_only("INSERT INTO need DEFAULT VALUES")


def _spend_tokens(session) -> dict[str, str]:
    rows = session.execute(sa.select(freshness.DataVersion.topic, freshness.DataVersion.token))
    return {topic: token for topic, token in rows if re.fullmatch(f"{freshness.SPEND_TOPIC}[0-9a-f]+", topic)}


def test_a_write_to_a_spend_cell_changes_the_token_of_its_organization_only(session, world):
    """The organization of the cell before and after the write: a cell moved to another organization changes both;
    an organization created after the migration gets its token with its first cell."""
    dm, chu, ub = (world[code] for code in ("DM", "CHU", "UB"))
    factories.bulk_spend_cells([dm, chu], 4)
    session.commit()
    before = _spend_tokens(session)
    assert {freshness.spend_topic(org.id) for org in (dm, chu)} <= set(before)
    assert all(len(topic) <= 16 for topic in before)  # data_version.topic holds 16 characters
    factories.bulk_spend_cells([ub], 2)
    session.commit()
    after = _spend_tokens(session)
    assert _changed(before, after) == {freshness.spend_topic(ub.id)}
    session.execute(
        sa.text("UPDATE spend_cell SET organization_id = :chu WHERE organization_id = :ub"),
        {"chu": chu.id, "ub": ub.id},
    )
    session.commit()
    moved = _spend_tokens(session)
    assert _changed(after, moved) == {freshness.spend_topic(ub.id), freshness.spend_topic(chu.id)}
    session.execute(sa.text("DELETE FROM spend_cell WHERE organization_id = :dm"), {"dm": dm.id})
    session.commit()
    assert _changed(moved, _spend_tokens(session)) == {freshness.spend_topic(dm.id)}
    if session.get_bind().dialect.name == "postgresql":  # no row triggers: every organization changes
        before = _spend_tokens(session)
        session.execute(sa.text("TRUNCATE spend_cell"))
        session.commit()
        assert _changed(before, _spend_tokens(session)) == set(before)


def _all_tokens(session) -> dict[str, str]:
    return dict(session.execute(sa.select(freshness.DataVersion.topic, freshness.DataVersion.token)).all())


def _cell_triggers(session) -> list[tuple[str, str]]:
    return session.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'spend_cell' ORDER BY name")
    ).all()


def test_an_import_on_sqlite_sets_the_cell_triggers_aside_yet_changes_the_tokens_and_keeps_them(session, world):
    """SQLite fires a trigger per row: an import drops the data-version triggers of spend_cell's inserts for all its
    cells but the last, inside its own transaction, and creates them again before that last cell fires them. Every
    committed state, and a rolled-back import, has them as they were; the importing organization's tokens change."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL's triggers fire once per statement")
    dm, coordinator = world["DM"], world["coordinator"]
    triggers = _cell_triggers(session)
    names = {"data_version_spend_cell_insert", "data_version_spend_organization_insert"}
    assert names <= {name for name, _ in triggers}
    days = [
        f"{day:02d}/0{month}/2025;Fournisseur {day};;30192000;{day},00;;" for day in range(1, 29) for month in (1, 2)
    ]
    before = _all_tokens(session)
    record = spend.import_spend(session, coordinator, ledger(*days), "many-cells.csv", organization="DM")
    session.commit()
    assert record.line_count == 56
    assert session.scalar(sa.select(sa.func.count()).select_from(SpendCell)) == 28  # one per supplier
    assert _cell_triggers(session) == triggers
    after = _all_tokens(session)
    assert _changed(before, after) == {"spend", freshness.spend_topic(dm.id)}
    spend.import_spend(session, coordinator, ledger(*days), "rolled-back.csv", organization="CHU")
    session.rollback()
    assert _cell_triggers(session) == triggers
    assert _changed(after, _all_tokens(session)) == set()


SPEND_APIS = (
    "/api/v1/spend/cube?level=group&per_page=200",
    "/api/v1/spend/pooling?level=class&per_page=200",
    "/api/v1/spend/local-share",
    "/api/v1/spend/carbon",
)


CELL_SUMS = ("FROM spend_cell", "GROUP BY spend_cell.organization_id")  # the statements summing cells per organization


def assert_only(statements, organization, *others) -> None:
    """Each statement names the organization and none of the others among its parameters."""
    for statement, values in statements:
        assert organization.id in values and not values & {other.id for other in others}, statement


def test_an_import_sums_the_importing_organization_s_cells_only(client, session, world):
    """The spend APIs keep each organization's sums until its own cells change: after an import, the next answers
    read the importing organization's cells only, and equal answers computed from scratch."""
    from tests.conftest import api_token

    dm, chu, ub = (world[code] for code in ("DM", "CHU", "UB"))
    factories.bulk_spend_cells([dm, chu, ub], 300, cpvs=("09310", "09320", "90911", "45210", "30192"))
    factories.supplier_company(siret="21000000000001", postcode="21000")
    world["coordinator"].email = "coord@x.fr"
    session.commit()
    headers = api_token(client, "coord@x.fr")
    first = {path: client.get(path, headers=headers).get_json() for path in SPEND_APIS}
    data = ledger("01/03/2025;B;21000000000001;09310000;5000,00;;\n02/03/2025;C;;45210000;70,00;;")
    spend.import_spend(session, world["coordinator"], data, "ub.csv", organization="UB")
    session.commit()
    with statements_sent(*CELL_SUMS) as sums:
        second = {path: client.get(path, headers=headers).get_json() for path in SPEND_APIS}
    assert len(sums) == len(SPEND_APIS)  # each API read the cells once, of the importing organization only
    assert_only(sums, ub, dm, chu)
    assert second != first
    assert Decimal(second[SPEND_APIS[1]]["pooling_potential_eur"]) == Decimal(
        first[SPEND_APIS[1]]["pooling_potential_eur"]
    ) + Decimal("5070.00")
    freshness.forget_all()
    assert {path: client.get(path, headers=headers).get_json() for path in SPEND_APIS} == second  # from scratch


def test_the_spend_map_after_an_import_sums_the_importing_organization_s_cells_only(session, world):
    """The spend map is made of the same per-organization sums as the spend APIs: after an import, the next map
    reads the importing organization's cells only, at the level and parent asked, and equals a map from scratch."""
    dm, chu, ub = (world[code] for code in ("DM", "CHU", "UB"))
    factories.bulk_spend_cells([dm, chu, ub], 300, cpvs=("09310", "09320", "90911", "45210", "30192"))
    session.commit()

    def spend_map():
        return spend.spend_map(session, world["coordinator"], level="group", parent="09")

    first = spend_map()
    data = ledger("01/03/2025;B;21000000000001;09310000;5000,00;;\n02/03/2025;C;;45210000;70,00;;")
    spend.import_spend(session, world["coordinator"], data, "ub.csv", organization="UB")
    session.commit()
    with statements_sent(*CELL_SUMS) as statements:
        second = spend_map()
    # the sums per prefix and year, and per prefix and supplier, of the importing organization only
    assert len(statements) == 2
    assert_only(statements, ub, dm, chu)
    assert second.total == first.total + Decimal("5000.00")  # the line below 09, not the one below 45
    assert all(row.prefix.startswith("09") for row in second.rows)
    freshness.forget_all()
    assert spend_map() == second  # from scratch


def test_the_overlap_impacts_after_an_import_sum_the_importing_organization_s_cells_only(client, session, world):
    """The members' past spend beside the overlaps is made of each organization's located sums: after an import the
    next answer reads the importing organization's cells only and equals an answer from scratch; the supplier
    registry is read again after each change, so a supplier registered later is located."""
    from tests.conftest import api_token

    dm, chu, ub = (world[code] for code in ("DM", "CHU", "UB"))
    factories.bulk_spend_cells([dm, chu, ub], 300, cpvs=("09310", "09320", "90911", "45210", "30192"))
    world["coordinator"].email = "coord@x.fr"
    session.commit()
    headers = api_token(client, "coord@x.fr")
    path = "/api/v1/overlaps?level=class&window_months=60&from=2027-01-01"

    def local_share() -> Decimal:
        items = client.get(path, headers=headers).get_json()["items"]
        return Decimal(next(item["impact"]["local_share_pct"] for item in items if item["cpv_prefix"] == "0931"))

    first = local_share()
    # a line in Dijon, and one whose supplier's location the file does not give (nor the registry, yet)
    data = ledger("01/03/2025;B;21000000000001;09310000;5000,00;;21000\n02/03/2025;C;21000000000002;09310000;3000,00;;")
    spend.import_spend(session, world["coordinator"], data, "chu.csv", organization="CHU")
    session.commit()
    with statements_sent(*CELL_SUMS) as statements:
        second = local_share()
    assert len(statements) == 1  # the located sums of the importing organization only
    assert_only(statements, chu, dm, ub)
    assert second > first
    factories.supplier_company(siret="21000000000002", postcode="21000")
    session.commit()
    third = local_share()
    assert third > second  # the second line, now located in Dijon
    freshness.forget_all()
    assert local_share() == third  # from scratch


def test_the_organization_codes_are_remembered_until_an_organization_changes(session, world):
    """Every aggregate summed per organization names the organizations by code: the codes are read once and
    remembered, read-only, until an organization is renamed or added."""
    codes = spend.organization_codes(session)
    session.commit()
    assert {codes[world[code].id] for code in ("DM", "CHU", "UB")} == {"DM", "CHU", "UB"}
    with pytest.raises(TypeError):
        codes[world["DM"].id] = "X"  # shared between requests: nobody may change it
    with statements_sent("FROM organization") as statements:
        assert spend.organization_codes(session) is codes
    assert not statements, statements
    session.commit()
    world["UB"].code = "UBO"
    session.commit()
    assert spend.organization_codes(session)[world["UB"].id] == "UBO"
    session.commit()
    added = factories.organization("GDH")
    session.commit()
    assert spend.organization_codes(session)[added.id] == "GDH"


def test_size_of_counts_frames_with_their_strings_and_estimates_long_containers():
    import sys

    import pandas as pd

    frame = pd.DataFrame({"supplier": [f"supplier {i}" for i in range(5000)], "cents": range(5000)})
    assert freshness.size_of(frame) == frame.memory_usage(index=True, deep=True).sum()
    rows = tuple((i, f"prefix {i:05d}", Decimal(i)) for i in range(20_000))
    one = freshness.size_of(rows[0])
    assert one > sys.getsizeof(rows[0])  # the tuple and what it holds
    estimate = freshness.size_of(rows)
    assert sys.getsizeof(rows) + 0.9 * one * len(rows) <= estimate <= sys.getsizeof(rows) + 1.1 * one * len(rows)


def test_the_remembered_answers_keep_to_their_size_in_bytes(session, world, monkeypatch):
    """The least recently used answers make room for a new one; an answer larger than the whole room is computed each
    time, never kept."""
    from cachetools import LRUCache

    small = tuple(range(100))  # about 4 kB
    room = 3 * freshness.size_of(small)
    monkeypatch.setattr(freshness, "_answers", LRUCache(maxsize=room, getsizeof=freshness.size_of))
    computed: list[str] = []

    def answer(key, value):
        def compute():
            computed.append(key)
            return value

        return freshness.remembered(session, ("needs",), key, compute)

    for key in ("a", "b", "a", "c", "d"):  # "b" is the least recently used when "d" needs room
        answer(key, small)
    assert computed == ["a", "b", "c", "d"]
    answer("a", small)
    answer("b", small)
    assert computed == ["a", "b", "c", "d", "b"]
    huge = tuple(range(10 * len(small)))
    answer("huge", huge)
    answer("huge", huge)
    assert computed[-2:] == ["huge", "huge"]
    assert freshness._answers.currsize <= room
