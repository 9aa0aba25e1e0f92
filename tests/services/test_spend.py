import threading
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.actors import SYSTEM
from app.demo import seed_demo
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.spend import services
from app.spend.models import SpendBlock, SpendCell, SpendImport, SpendQuarantine
from app.spend.services import imports
from tests import factories
from tests.factories import DECP_SAMPLE as DECP
from tests.factories import ledger


@pytest.fixture
def orgs(db):
    dm, chu, ub = factories.organization("DM"), factories.organization("CHU"), factories.organization("UB")
    people = {
        "dm": factories.user("buyer", organization_=dm),
        "chu": factories.user("buyer", organization_=chu),
        "coord": factories.user("coordinator"),
        "admin": factories.user("admin"),
        "supplier": factories.user("supplier"),
    }
    db.session.commit()
    return {"DM": dm, "CHU": chu, "UB": ub, **people}


def _count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


# --- import --------------------------------------------------------------------------------------------------


def test_decp_import_writes_one_line_per_record_and_cells_with_the_same_totals(session, orgs):
    record = services.import_spend(session, orgs["coord"], DECP.read_bytes(), DECP.name, organization="DM")
    session.commit()
    assert record.format == "decp" and record.line_count == 272 and record.organization.code == "DM"
    assert record.quarantined_count == 0 and record.total_amount == Decimal("87847723.72")
    assert record.first_date == date(2024, 1, 3) and record.last_date.year == 2025

    expected = defaultdict(Decimal)
    records = factories.decp_sample_records()
    for cpv, day, amount in zip(records["codecpv"], records["datenotification"], records["amount"], strict=True):
        expected[(cpv[:2], int(day[:4]))] += amount

    cube = services.spend_cube(session, orgs["coord"], level="division")
    assert {(i.cpv_prefix, i.year): i.amount for i in cube} == dict(expected)
    assert {i.organization for i in cube} == {"DM"}
    assert sum(i.lines for i in cube) == 272
    assert record.total_amount == sum(expected.values())
    assert sum(line.amount for line in factories.stored_lines(session)) == record.total_amount


def test_the_cube_counts_distinct_suppliers_and_reads_every_level(session, orgs):
    services.import_spend(
        session,
        orgs["dm"],
        ledger(
            "01/02/2025;A;49047296600012;30192000;100,00;;",
            "02/02/2025;A;49047296600012;30197630;50,00;;",
            "03/02/2025;B;;30192000;25,00;;",
            "03/02/2024;B;;30192000;10,00;;",
        ),
        "grand-livre.csv",
    )
    by_class = services.spend_cube(session, orgs["dm"], level="class", year=2025)
    assert [(i.cpv_prefix, i.amount, i.lines, i.suppliers) for i in by_class] == [("3019", Decimal("175"), 3, 2)]
    by_category = {i.cpv_prefix: i for i in services.spend_cube(session, orgs["dm"], level="category", year=2025)}
    assert by_category["30192"].suppliers == 2 and by_category["30197"].amount == Decimal("50")
    assert by_category["30192"].label  # the CPV label of 30192000
    with pytest.raises(ValidationFailed):
        services.spend_cube(session, orgs["dm"], level="subcategory")


def test_the_same_file_is_refused_for_the_same_organization_but_not_for_another(session, orgs):
    data = ledger("01/02/2025;A;;30192000;100,00;;")
    first = services.import_spend(session, orgs["coord"], data, "a.csv", organization="DM")
    session.commit()
    with pytest.raises(Conflict) as refused:
        services.import_spend(session, orgs["coord"], data, "renamed.csv", organization="DM")
    assert refused.value.code == "duplicate_import" and refused.value.details["import_id"] == first.id
    session.rollback()
    services.import_spend(session, orgs["coord"], data, "a.csv", organization="CHU")
    session.commit()
    assert factories.stored_line_count(session) == 2


def test_lines_already_imported_from_another_file_are_skipped(session, orgs):
    services.import_spend(session, orgs["dm"], ledger("01/02/2025;A;;30192000;100,00;;"), "january.csv")
    overlapping = ledger("01/02/2025;A;;30192000;100,00;;", "01/03/2025;A;;30192000;70,00;;")
    preview = services.check_spend_import(session, orgs["dm"], overlapping, "q1.csv")
    assert preview.skipped == 1 and len(preview.new_rows) == 1
    record = services.import_spend(session, orgs["dm"], overlapping, "q1.csv")
    assert record.line_count == 1 and record.skipped_count == 1
    assert sum(i.amount for i in services.spend_cube(session, orgs["dm"])) == Decimal("170")
    with pytest.raises(Conflict):  # nothing new at all
        services.import_spend(session, orgs["dm"], ledger("01/03/2025;A;;30192000;70,00;;"), "march.csv")


def test_one_bad_row_means_nothing_is_written(session, orgs):
    data = ledger("01/02/2025;A;;30192000;100,00;;", "01/02/2025;A;;30192000;-3;;", "01/02/2025;A;;12345678;3;;")
    with pytest.raises(ValidationFailed) as failed:
        services.import_spend(session, orgs["dm"], data, "bad.csv")
    rows = failed.value.rows
    assert [(r["row"], r["column"]) for r in rows] == [(3, "amount_eur"), (4, "cpv_code")]
    assert all(r["message"] for r in rows)
    session.rollback()
    assert factories.stored_line_count(session) == _count(session, SpendImport) == _count(session, SpendCell) == 0


def test_twin_lines_of_one_file_both_count_and_a_later_file_skips_only_what_it_repeats(session, orgs):
    twin = "01/02/2025;A;;30192000;100,00;;"
    first = services.import_spend(session, orgs["dm"], ledger(twin, twin), "twins.csv")
    assert first.line_count == 2 and first.skipped_count == 0
    assert sorted(line.occurrence for line in factories.stored_lines(session)) == [0, 1]
    preview = services.check_spend_import(session, orgs["dm"], ledger(twin, twin, twin), "three.csv")
    assert (preview.skipped, len(preview.new_rows)) == (2, 1)  # the preview numbers the twins as the import does
    third = services.import_spend(session, orgs["dm"], ledger(twin, twin, twin), "three.csv")
    assert third.line_count == 1 and third.skipped_count == 2
    assert sum(i.amount for i in services.spend_cube(session, orgs["dm"])) == Decimal("300")
    other = services.import_spend(session, orgs["chu"], ledger(twin), "chu.csv")  # another organization's line
    assert other.line_count == 1


def test_a_bad_row_after_slices_already_written_leaves_nothing(session, orgs):
    good = [f"01/02/2025;A;;30192000;{n},00;;" for n in range(1, 8)]
    data = ledger(*good, "01/02/2025;A;;30192000;-3;;")
    with pytest.raises(ValidationFailed) as failed:
        services.import_spend(session, orgs["dm"], data, "late.csv", chunk_rows=2)
    assert [(r["row"], r["column"]) for r in failed.value.rows] == [(9, "amount_eur")]
    session.rollback()
    assert factories.stored_line_count(session) == _count(session, SpendImport) == _count(session, SpendCell) == 0


def test_the_cells_summed_in_sql_equal_those_summed_in_python(session, orgs):
    record = services.import_spend(
        session, orgs["coord"], DECP.read_bytes(), DECP.name, organization="CHU", fmt="decp", chunk_rows=50
    )
    lines = factories.stored_lines(session, import_id=record.id)
    expected = defaultdict(lambda: [Decimal(0), 0])
    for line in lines:
        key = services.supplier_key(line.supplier_siret, line.supplier_name)
        cell = expected[(line.year, line.cpv_code[: services.CELL_PREFIX], key)]
        cell[0] += line.amount
        cell[1] += 1
    cells = session.execute(
        sa.select(SpendCell.year, SpendCell.cpv_prefix, SpendCell.supplier_key, SpendCell.amount, SpendCell.lines)
    ).all()
    assert sorted(tuple(c) for c in cells) == sorted((*k, amount, n) for k, (amount, n) in expected.items())
    assert record.line_count == 272 and record.total_amount == sum(line.amount for line in lines)


def test_an_import_sends_as_many_statements_after_many_lines_as_after_none(session, orgs, query_counter):
    def one_file(month):
        return ledger(*(f"{day:02d}/{month:02d}/2025;A;;30192000;{day},00;;" for day in range(1, 21)))

    services.import_spend(session, orgs["dm"], one_file(1), "1.csv", chunk_rows=5)
    with query_counter() as early:
        services.import_spend(session, orgs["dm"], one_file(2), "2.csv", chunk_rows=5)
    for month in range(3, 10):
        services.import_spend(session, orgs["dm"], one_file(month), f"{month}.csv", chunk_rows=5)
    with query_counter() as late:
        services.import_spend(session, orgs["dm"], one_file(10), "10.csv", chunk_rows=5)
    assert late.value == early.value


def test_web_and_api_uploads_keep_a_row_limit(session, orgs):
    data = ledger(*(f"{day:02d}/02/2025;A;;30192000;{day},00;;" for day in range(1, 13)))
    with pytest.raises(ValidationFailed) as failed:
        services.import_spend(session, orgs["dm"], data, "big.csv", max_rows=10, chunk_rows=4)
    (reason,) = failed.value.reasons["file"]  # in the application's language, French
    assert "plus de 10 lignes" in reason
    session.rollback()
    assert services.import_spend(session, orgs["dm"], data, "big.csv", max_rows=None).line_count == 12


def _reading_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name == "spend-read-ahead"]


def test_an_import_refused_half_way_stops_the_thread_reading_ahead(session, orgs, tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(ledger(*(f"{day % 28 + 1:02d}/02/2025;A;;30192000;{day},00;;" for day in range(1, 400))))
    with pytest.raises(ValidationFailed):  # refused at the third slice while the reading thread has more to give
        services.import_spend(session, orgs["dm"], path, "big.csv", max_rows=10, chunk_rows=4)
    assert _reading_threads() == []
    session.rollback()
    assert factories.stored_line_count(session) == _count(session, SpendImport) == 0


def test_an_unexpected_failure_while_reading_ahead_reaches_the_caller(session, orgs, monkeypatch):
    from app.domain import spend_import

    calls = []
    fast_lines = spend_import._generic_fast_lines

    def failing_on_the_second_slice(frame, iso):
        calls.append(len(frame))
        if len(calls) == 2:
            raise RuntimeError("the disk went away")
        return fast_lines(frame, iso)

    monkeypatch.setattr(spend_import, "_generic_fast_lines", failing_on_the_second_slice)
    data = ledger(*(f"{day:02d}/02/2025;A;;30192000;{day},00;;" for day in range(1, 13)))
    with pytest.raises(RuntimeError, match="the disk went away"):
        services.import_spend(session, orgs["dm"], data, "a.csv", chunk_rows=4)
    assert calls == [4, 4] and _reading_threads() == []


def test_who_imports_for_which_organization(session, orgs):
    data = ledger("01/02/2025;A;;30192000;100,00;;")
    with pytest.raises(NotPermitted):
        services.import_spend(session, orgs["chu"], data, "x.csv", organization="DM")
    with pytest.raises(NotPermitted):
        services.import_spend(session, orgs["supplier"], data, "x.csv", organization="DM")
    with pytest.raises(ValidationFailed):
        services.import_spend(session, orgs["coord"], data, "x.csv")  # must name the organization
    record = services.import_spend(session, orgs["chu"], data, "x.csv")  # a buyer: its own organization
    assert record.organization.code == "CHU"


def test_the_database_keeps_each_block_of_lines_in_its_imports_organization(session, orgs):
    from sqlalchemy.exc import IntegrityError

    record = services.import_spend(session, orgs["dm"], ledger("01/02/2025;A;;30192000;100,00;;"), "a.csv")
    session.commit()
    block = session.scalar(sa.select(SpendBlock))
    assert (block.import_id, block.organization_id, block.seq, block.line_count) == (record.id, orgs["DM"].id, 0, 1)
    [line] = factories.stored_lines(session, import_id=record.id)
    assert line.organization_id == orgs["DM"].id and line.amount == Decimal("100.00") and line.supplier_label == "A"
    with pytest.raises(IntegrityError):  # the block cannot be moved to another organization than its import's
        session.execute(sa.update(SpendBlock).values(organization_id=orgs["CHU"].id))
    session.rollback()
    with pytest.raises(IntegrityError):  # nor name an import that does not exist
        session.execute(sa.update(SpendBlock).values(import_id=record.id + 1))
    session.rollback()
    assert session.scalar(sa.select(SpendBlock.organization_id)) == orgs["DM"].id


def test_an_admin_rolls_an_import_back_and_the_file_may_come_again(session, orgs):
    data = ledger("01/02/2025;A;;30192000;100,00;;", "01/03/2025;B;;45210000;900,00;;")
    record = services.import_spend(session, orgs["dm"], data, "a.csv")
    session.commit()
    with pytest.raises(NotPermitted):
        services.rollback_import(session, orgs["coord"], record.id)
    services.rollback_import(session, orgs["admin"], record.id)
    session.commit()
    assert factories.stored_line_count(session) == _count(session, SpendCell) == 0
    assert record.rolled_back_at is not None and record.active_sha256 is None
    assert services.spend_cube(session, orgs["coord"]) == []
    with pytest.raises(Conflict):
        services.rollback_import(session, orgs["admin"], record.id)
    again = services.import_spend(session, orgs["dm"], data, "a.csv")
    assert again.id != record.id and again.line_count == 2


# --- who sees what -------------------------------------------------------------------------------------------


def test_buyers_see_their_own_spend_coordinators_all_suppliers_none(session, orgs):
    services.import_spend(session, orgs["dm"], ledger("01/02/2025;A;;30192000;100,00;;"), "dm.csv")
    services.import_spend(session, orgs["chu"], ledger("01/02/2025;A;;30192000;40,00;;"), "chu.csv")
    assert {i.organization for i in services.spend_cube(session, orgs["dm"])} == {"DM"}
    assert {i.organization for i in services.spend_cube(session, orgs["coord"])} == {"DM", "CHU"}
    assert {i.organization for i in services.spend_cube(session, orgs["admin"], organization="chu")} == {"CHU"}
    with pytest.raises(NotPermitted):
        services.spend_cube(session, orgs["dm"], organization="CHU")
    for call in (
        lambda: services.spend_cube(session, orgs["supplier"]),
        lambda: services.spend_map(session, orgs["supplier"]),
        lambda: services.local_share_report(session, orgs["supplier"]),
        lambda: services.carbon_report(session, orgs["supplier"]),
        lambda: services.visible_imports(session, orgs["supplier"]),
    ):
        with pytest.raises(NotPermitted):
            call()
    lines = services.spend_lines(session, orgs["dm"], prefix="30")
    assert len(lines) == 1 and {line.organization_id for line in lines} == {orgs["DM"].id}
    assert len(services.spend_lines(session, orgs["coord"], prefix="30")) == 2
    assert [r.organization.code for r in services.visible_imports(session, orgs["chu"])] == ["CHU"]


# --- the map -------------------------------------------------------------------------------------------------


def test_the_map_shows_pooling_potential_concentration_and_the_needs_beside_the_spend(session, orgs):
    services.import_spend(
        session,
        orgs["dm"],
        ledger("01/02/2025;A;49047296600012;30192000;300,00;;", "01/02/2025;B;;30192000;100,00;;"),
        "dm.csv",
    )
    services.import_spend(
        session,
        orgs["chu"],
        ledger("01/02/2025;A;49047296600012;30197630;600,00;;", "01/02/2024;C;;45210000;1000,00;;"),
        "chu.csv",
    )
    factories.need(
        orgs["UB"], title="Papier", cpv="30192000", annual="5000", start=date(2027, 1, 1), months=12, postcode=None
    )
    result = services.spend_map(session, orgs["coord"], level="division")
    rows = {r.prefix: r for r in result.rows}
    assert rows["30"].organizations == ("CHU", "DM") and rows["30"].shared
    assert rows["30"].amount == Decimal("1000") and rows["30"].suppliers == 2
    assert rows["30"].top_share == pytest.approx(0.9) and rows["30"].hhi == 8200  # A 900 of 1000 known, B 100
    assert rows["30"].needs_annual == Decimal("5000")
    assert not rows["45"].shared and rows["45"].savings_low is None
    assert result.pooling_potential == Decimal("1000") and result.pooling_categories == 1
    # a yearly savings range on the average year (two years of spend): 1000 / 2 × 5 % and × 15 %
    assert (rows["30"].savings_low, rows["30"].savings_high) == (Decimal("25.00"), Decimal("75.00"))
    assert result.by_year == {2024: {"CHU": Decimal("1000")}, 2025: {"CHU": Decimal("600"), "DM": Decimal("400")}}
    assert result.needs_by_year == {2027: {"UB": Decimal("5000")}}

    drilled = services.spend_map(session, orgs["coord"], level="group", parent="30", year=2025)
    assert [r.prefix for r in drilled.rows] == ["301"] and drilled.total == Decimal("1000")
    with pytest.raises(ValidationFailed):
        services.spend_map(session, orgs["coord"], level="division", parent="301")


def test_the_map_query_count_does_not_grow_with_the_data(session, orgs, query_counter):
    services.import_spend(session, orgs["dm"], ledger("01/02/2025;A;49047296600012;30192000;100,00;;"), "small.csv")
    session.commit()
    with query_counter() as small:
        services.spend_map(session, orgs["coord"], level="class")
    services.import_spend(session, orgs["coord"], DECP.read_bytes(), DECP.name, organization="CHU", fmt="decp")
    session.commit()
    with query_counter() as large:
        services.spend_map(session, orgs["coord"], level="class")
    assert large.value == small.value


# --- impact --------------------------------------------------------------------------------------------------


def test_local_share_uses_the_file_postcode_else_the_supplier_registry(session, orgs):
    local = factories.supplier_company(postcode="21850", name="Local")
    far = factories.supplier_company(postcode="75008", name="Loin")
    services.import_spend(
        session,
        orgs["dm"],
        ledger(
            f"01/02/2025;Local;{local.siret};30192000;100,00;;",
            f"01/02/2025;Loin;{far.siret};30192000;300,00;;",
            "01/02/2025;Beaune SA;;30192000;50,00;;21200",
            "01/02/2025;Besançon SA;;30192000;25,00;;25000",
            "01/02/2025;Inconnu;;30192000;25,00;;",
        ),
        "dm.csv",
    )
    report = services.local_share_report(session, orgs["coord"])
    assert report.overall.amounts == {
        "metropole": Decimal("100"),
        "departement": Decimal("50"),
        "region": Decimal("25"),
        "elsewhere": Decimal("300"),
        "unknown": Decimal("25"),
    }
    assert report.overall.share("metropole") == Decimal("0.2000")
    assert set(report.per_organization) == {"DM"}


def test_carbon_follows_the_mapping_an_admin_edits(session, orgs):
    services.import_spend(
        session, orgs["dm"], ledger("01/02/2025;A;;45210000;100000,00;;", "01/02/2025;B;;09310000;5000,00;;"), "d.csv"
    )
    before = services.carbon_report(session, orgs["coord"])
    assert before.total_kg == Decimal("36000")  # 100 k€ × 360 (construction); energy not estimated
    assert before.uncovered_amount == Decimal("5000")
    with pytest.raises(NotPermitted):
        services.update_emission_mapping(session, orgs["coord"], "45", "metals", "")
    with pytest.raises(ValidationFailed):
        services.update_emission_mapping(session, orgs["admin"], "45", "no_such_category", "")
    services.update_emission_mapping(session, orgs["admin"], "45", "mineral_products", "mostly concrete")
    session.commit()
    after = services.carbon_report(session, orgs["coord"])
    assert after.total_kg == Decimal("180000")  # 100 k€ × 1800
    assert services.emission_mapping(session)["45"].changed
    services.update_emission_mapping(session, orgs["admin"], "45", "", "not estimated for now")
    assert services.carbon_report(session, orgs["coord"]).total_kg == 0


def test_the_mapping_falls_back_to_the_shipped_defaults(session):
    mapping = services.emission_mapping(session)
    assert len(mapping) == 45 and mapping["45"].category_key == "construction" and not mapping["45"].changed


def test_the_migration_seeds_the_45_divisions_of_the_mapping(tmp_path):
    from flask_migrate import upgrade

    from app.extensions import db
    from tests.conftest import make_app

    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            rows = dict(connection.execute(sa.text("SELECT division, category_key FROM emission_mapping")).all())
        db.engine.dispose()
    assert len(rows) == 45 and rows["45"] == "construction" and rows["09"] is None


def test_overlap_savings_give_a_range_per_current_overlap(session, orgs):
    today = date(2026, 11, 1)
    for org in ("DM", "CHU"):
        factories.need(
            orgs[org],
            title="Ordinateurs",
            cpv="30213000",
            annual="100000",
            start=date(2027, 1, 1),
            months=12,
            postcode=None,
        )
    items = services.overlap_savings(session, orgs["coord"], level="class", today=today)
    assert len(items) == 1
    item = items[0]
    assert item.cpv_prefix == "3021" and item.organizations == ("CHU", "DM")
    assert (item.total_amount, item.low, item.high) == (Decimal("200000.00"), Decimal("10000.00"), Decimal("30000.00"))
    assert item.assumption.division == "30"
    with pytest.raises(NotPermitted):
        services.overlap_savings(session, orgs["supplier"], today=today)


# --- demo and command line -----------------------------------------------------------------------------------


def test_the_demo_loads_the_decp_sample_and_marked_synthetic_spend_once(session):
    report = seed_demo(session, today=date(2026, 11, 1))
    session.commit()
    imports = {r.organization.code: r for r in session.scalars(sa.select(SpendImport))}
    assert set(imports) == {"DM", "CHU", "UB", "GDH"}
    assert imports["DM"].format == "decp" and imports["DM"].line_count == 272 and not imports["DM"].is_synthetic
    assert all(imports[c].is_synthetic and "synthetiques" in imports[c].filename for c in ("CHU", "UB", "GDH"))
    assert report.spend_lines == sum(r.line_count for r in imports.values())
    synthetic = [
        line.description
        for line in factories.stored_lines(session)
        if line.organization_id != imports["DM"].organization_id
    ]
    assert synthetic and all("(synthétique)" in text for text in synthetic)
    result = services.spend_map(session, SYSTEM, level="division")
    assert result.pooling_categories >= 5 and result.total > Decimal("100000000")
    assert seed_demo(session, today=date(2026, 11, 1)).spend_lines == 0


def test_the_spend_import_command(web_app, db, tmp_path):
    factories.organization("DM")
    db.session.commit()
    runner = web_app.test_cli_runner()
    result = runner.invoke(args=["spend", "import", str(DECP), "--org", "dm", "--format", "decp"])
    assert result.exit_code == 0, result.output
    assert "272 spend line(s) imported" in result.output and "several suppliers" in result.output
    again = runner.invoke(args=["spend", "import", str(DECP), "--org", "DM"])
    assert again.exit_code == 1 and "déjà été importé" in again.output  # the command speaks French
    bad = tmp_path / "bad.csv"
    bad.write_bytes(ledger("01/02/2025;A;;30192000;0;;"))
    failed = runner.invoke(args=["spend", "import", str(bad), "--org", "DM"])
    assert failed.exit_code == 1 and "row 2, column amount_eur" in failed.output
    unknown = runner.invoke(args=["spend", "import", str(bad), "--org", "XYZ"])
    assert unknown.exit_code != 0 and "Unknown organization code" in unknown.output
    record_id = db.session.scalar(sa.select(SpendImport.id))
    rolled = runner.invoke(args=["spend", "rollback", str(record_id)])
    assert rolled.exit_code == 0 and "rolled back" in rolled.output
    assert factories.stored_line_count() == 0


def test_the_spend_import_command_reads_open_data_leniently_and_lists_the_quarantine(web_app, db):
    factories.organization("DM")
    db.session.commit()
    runner = web_app.test_cli_runner()
    path = factories.DECP_FILES / "decp_dotted.csv"
    result = runner.invoke(args=["spend", "import", str(path), "--org", "DM", "--format", "decp"])
    assert result.exit_code == 0, result.output
    assert "2 spend line(s) imported" in result.output and "total 205000.50 €" in result.output
    assert "2 record(s) quarantined (2 imported + 0 skipped + 2 quarantined = 4 records in the file)" in result.output
    record = db.session.scalar(sa.select(SpendImport))
    listed = runner.invoke(args=["spend", "quarantine", str(record.id)])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("row 5\tcodecpv\t2024-003\t5000\t") and "00000000" in lines[0]
    assert lines[1].startswith("row 6\tmontant\t2024-004\t-250.5\t")
    assert lines[2] == f"Import #{record.id}: 2 record(s) quarantined."
    assert runner.invoke(args=["spend", "quarantine", "12345"]).exit_code == 1


def test_quarantined_records_are_kept_with_the_import_and_go_with_its_rollback(session, orgs):
    data = (factories.DECP_FILES / "decp_underscore.csv").read_bytes()
    record = services.import_spend(session, orgs["coord"], data, "decp_underscore.csv", organization="DM", chunk_rows=2)
    session.commit()
    assert (record.line_count, record.skipped_count, record.quarantined_count) == (3, 0, 1)
    assert record.total_amount == Decimal("366500.60")  # 15,000 + 250,000.10 (two suppliers, once) + 101,500.50
    _, entries = services.import_quarantine(session, orgs["dm"], record.id)
    assert [(e.row, e.field, e.source_ref, e.amount) for e in entries] == [(5, "datenotification", "2025-012", "99000")]
    with pytest.raises(NotFound):
        services.import_quarantine(session, orgs["chu"], record.id)
    services.rollback_import(session, orgs["admin"], record.id)
    session.commit()
    assert _count(session, SpendQuarantine) == 0 and factories.stored_line_count(session) == 0


def test_twins_are_numbered_across_slices_and_a_later_file_skips_only_what_it_repeats(session, orgs):
    twin, other = "01/02/2025;A;;30192000;100,00;;", "02/02/2025;A;;30192000;5,00;;"
    first = services.import_spend(session, orgs["dm"], ledger(twin, other, twin, twin), "a.csv", chunk_rows=1)
    assert first.line_count == 4
    lines = factories.stored_lines(session)
    assert sorted(line.occurrence for line in lines if line.amount == Decimal("100")) == [0, 1, 2]
    again = services.import_spend(session, orgs["dm"], ledger(other, twin, twin, twin, twin), "b.csv", chunk_rows=2)
    assert again.line_count == 1 and again.skipped_count == 4
    assert sum(i.amount for i in services.spend_cube(session, orgs["dm"])) == Decimal("405")


def _stored_cells(session, import_id):
    cells = session.execute(
        sa.select(
            SpendCell.year,
            SpendCell.cpv_prefix,
            SpendCell.supplier_key,
            SpendCell.supplier_postcode,
            SpendCell.supplier_city,
            SpendCell.amount,
            SpendCell.lines,
        ).where(SpendCell.import_id == import_id)
    )
    return sorted((*cell[:5], Decimal(str(cell[5])).quantize(Decimal("0.01")), cell[6]) for cell in cells)


def _grouped_lines(session, import_id):
    """The import's stored lines grouped one by one into cells (what its cells must be): the supplier key is the
    SIRET, else the name trimmed and upper-cased by the database's own upper()."""
    cells = defaultdict(lambda: [Decimal(0), 0])
    for line in factories.stored_lines(session, import_id=import_id):
        name = sa.literal(line.supplier_name or "", sa.Text)
        key = line.supplier_siret or session.scalar(sa.select(sa.func.upper(sa.func.trim(name))))
        cell = cells[(line.year, line.cpv_code[:5], key[:200], line.supplier_postcode, line.supplier_city)]
        cell[0] += line.amount
        cell[1] += 1
    return sorted((*key, amount, count) for key, (amount, count) in cells.items())


MIXED = (
    "01/02/2025;Société Générale;;30192000;100,00;Ramettes;21000",
    "02/02/2025;  société générale;;30192000;5,5;Ramettes;21000",  # spaces trimmed, cased as the database does
    "03/02/2025;Straße und Söhne;;30192000;1,10;;",  # no postcode: NULL; ß, which Python upper-cases as SS
    "03/02/2025;Straße und Söhne;;30192000;1,10;;",  # a twin: counted twice
    "04/03/2024;A;64285249500018;30197000;12;Agrafes;1000",  # postcode repaired (leading zero), one by one
    "04/03/2024;B;64285249500018;30197000;0,01;;01000",  # same SIRET: the name does not count
    "05/05/2025;école;;45000000;999999,99;Travaux;75001",
)


@pytest.mark.parametrize("parts_kept", [imports.PARTS_KEPT, 2])
def test_the_cells_summed_from_the_slices_equal_the_stored_lines_grouped(session, orgs, monkeypatch, parts_kept):
    monkeypatch.setattr(imports, "PARTS_KEPT", parts_kept)  # 2: the slices' sums summed as they come
    record = services.import_spend(session, orgs["dm"], ledger(*MIXED), "mixed.csv", chunk_rows=1)
    cells = _stored_cells(session, record.id)
    assert cells == _grouped_lines(session, record.id)
    assert len(cells) == 4 and sum(cell[6] for cell in cells) == record.line_count == 7
    assert record.total_amount == Decimal("1000119.70") and record.skipped_count == 0
    assert (record.first_date, record.last_date) == (date(2024, 3, 4), date(2025, 5, 5))


def test_an_import_with_skipped_lines_sums_its_cells_from_its_new_lines_only(session, orgs):
    services.import_spend(session, orgs["dm"], ledger(*MIXED[:3]), "first.csv")
    record = services.import_spend(session, orgs["dm"], ledger(*MIXED), "all.csv", chunk_rows=3)
    assert (record.line_count, record.skipped_count) == (4, 3)
    assert _stored_cells(session, record.id) == _grouped_lines(session, record.id)
    assert record.total_amount == Decimal("1000013.10")
    assert sum(cell.amount for cell in services.spend_cube(session, orgs["dm"])) == Decimal("1000119.70")


def test_the_cells_of_an_open_data_import_with_quarantined_records_come_from_its_slices(session, orgs):
    data = (factories.DECP_FILES / "decp_underscore.csv").read_bytes()
    record = services.import_spend(session, orgs["coord"], data, "decp.csv", organization="DM", chunk_rows=2)
    assert record.quarantined_count == 1
    assert _stored_cells(session, record.id) == _grouped_lines(session, record.id)
    assert sum(cell[5] for cell in _stored_cells(session, record.id)) == record.total_amount == Decimal("366500.60")
