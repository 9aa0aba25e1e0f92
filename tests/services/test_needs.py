from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.actors import SYSTEM
from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.needs import services
from app.needs.models import Need
from app.needs.services import NeedFilters, NeedValues
from tests import factories


def values(**overrides) -> NeedValues:
    base = dict(
        title="Électricité des sites",
        cpv_code="09310000-5",
        annual_amount=Decimal("120000.00"),
        start_date=date(2027, 1, 1),
        duration_months=36,
    )
    base.update(overrides)
    return NeedValues(**base)


@pytest.fixture
def chu_buyer(db):
    return factories.user("buyer", organization_=factories.organization("CHU"))


def test_buyer_records_a_need_for_its_own_organization(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values(), status="submitted")
    assert need.organization_id == chu_buyer.organization_id and need.cpv_code == "09310000"
    assert need.total_amount == Decimal("360000.00") and need.submitted_at is not None


def test_total_over_duration_is_exact_to_the_cent(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values(annual_amount=Decimal("1000.01"), duration_months=7))
    assert need.total_amount == Decimal("583.34")  # 7000.07 / 12 = 583.339… → 583.34


def test_total_counts_every_renewal_and_the_options(session, chu_buyer):
    need = services.create_need(
        session,
        chu_buyer,
        values(
            annual_amount=Decimal("10000.00"),
            duration_months=12,
            renewal_count=3,
            renewal_months=12,
            options_amount=Decimal("2500.00"),
        ),
    )
    # 10 000 × (12 + 3 × 12) / 12 + 2 500 = 42 500.00: four times the first year, plus the options
    assert need.total_amount == Decimal("42500.00")
    stored = session.execute(sa.text("SELECT total_amount_eur FROM need WHERE id = :id"), {"id": need.id}).scalar()
    assert Decimal(str(stored)) == Decimal("42500.00")


def test_renewals_last_the_initial_duration_unless_told_and_round_to_the_cent(session, chu_buyer):
    default = services.create_need(session, chu_buyer, values(duration_months=24, renewal_count=1))
    assert default.total_amount == Decimal("480000.00")  # 120 000 × (24 + 24) / 12
    odd = services.create_need(
        session,
        chu_buyer,
        values(
            annual_amount=Decimal("1000.01"),
            duration_months=7,
            renewal_count=2,
            renewal_months=5,
            options_amount=Decimal("0.10"),
        ),
    )
    assert odd.total_amount == Decimal("1416.78")  # 1000.01 × 17 / 12 = 1416.6808… + 0.10 → 1416.78


def test_the_stored_total_follows_an_update(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values())
    services.update_need(session, chu_buyer, need, {"renewal_count": 2, "renewal_months": 12})
    assert need.total_amount == Decimal("600000.00")  # 120 000 × (36 + 24) / 12
    services.update_need(session, chu_buyer, need, {"options_amount": Decimal("999.99")})
    assert need.total_amount == Decimal("600999.99")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"renewal_count": 11}, "renewal_count"),
        ({"renewal_count": -1}, "renewal_count"),
        ({"renewal_count": 1, "renewal_months": 0}, "renewal_months"),
        ({"renewal_count": 1, "renewal_months": 121}, "renewal_months"),
        ({"options_amount": Decimal("-1.00")}, "options_amount"),
        ({"options_amount": Decimal("1.001")}, "options_amount"),
    ],
)
def test_renewals_and_options_out_of_range_are_refused(session, chu_buyer, change, field):
    with pytest.raises(ValidationFailed) as error:
        services.create_need(session, chu_buyer, values(**change))
    assert field in error.value.reasons


@pytest.mark.parametrize("role", ["coordinator", "admin", "supplier"])
def test_only_buyers_record_needs(session, role):
    with pytest.raises(NotPermitted):
        services.create_need(session, factories.user(role), values())


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("title", "  ", "title"),
        ("cpv_code", "12345678", "cpv_code"),
        ("cpv_code", "0931", "cpv_code"),
        ("annual_amount", Decimal("0"), "annual_amount"),
        ("annual_amount", Decimal("-3"), "annual_amount"),
        ("annual_amount", Decimal("1.234"), "annual_amount"),
        ("duration_months", 0, "duration_months"),
        ("duration_months", 121, "duration_months"),
        ("delivery_postcode", "2100", "delivery_postcode"),
        ("quantity", Decimal("-1"), "quantity"),
    ],
)
def test_bad_values_are_refused_on_their_field_and_nothing_is_written(session, chu_buyer, field, value, name):
    with pytest.raises(ValidationFailed) as caught:
        services.create_need(session, chu_buyer, values(**{field: value}))
    assert name in caught.value.reasons
    assert session.scalar(sa.select(sa.func.count(Need.id))) == 0


def test_buyers_see_only_their_organization_and_coordinators_no_drafts(session, chu_buyer):
    other = factories.user("buyer", organization_=factories.organization("UB"))
    mine = services.create_need(session, chu_buyer, values())
    theirs_draft = services.create_need(session, other, values())
    theirs_submitted = services.create_need(session, other, values(), status="submitted")
    assert services.get_need(session, chu_buyer, mine.id) is mine
    with pytest.raises(NotFound):
        services.get_need(session, chu_buyer, theirs_submitted.id)
    coordinator = factories.user("coordinator")
    assert services.get_need(session, coordinator, theirs_submitted.id) is theirs_submitted
    with pytest.raises(NotFound):
        services.get_need(session, coordinator, theirs_draft.id)
    with pytest.raises(NotPermitted):
        services.get_need(session, factories.user("supplier"), theirs_submitted.id)


def test_another_organization_cannot_change_or_delete_a_need(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values(), status="submitted")
    intruder = factories.user("buyer", organization_=factories.organization("UB"))
    with pytest.raises(NotPermitted):
        services.update_need(session, intruder, need, {"title": "Piraté"})
    with pytest.raises(NotPermitted):
        services.delete_need(session, intruder, need)
    with pytest.raises(NotPermitted):
        services.change_status(session, factories.user("coordinator"), need, "withdrawn")


def test_update_with_a_stale_version_is_refused_and_changes_nothing(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values())
    read_version = need.version
    services.update_need(session, chu_buyer, need, {"title": "Première modification"}, expected_version=read_version)
    with pytest.raises(Conflict) as caught:
        services.update_need(session, chu_buyer, need, {"title": "Seconde"}, expected_version=read_version)
    assert caught.value.code == "stale_version" and need.title == "Première modification"


def test_status_changes_follow_the_allowed_transitions(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values())
    services.change_status(session, chu_buyer, need, "submitted")
    services.change_status(session, chu_buyer, need, "withdrawn")
    services.change_status(session, chu_buyer, need, "submitted")
    with pytest.raises(Conflict):
        services.change_status(session, chu_buyer, need, "grouped")


def test_grouped_needs_are_frozen(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values(), status="submitted")
    need.status = "grouped"
    with pytest.raises(Conflict) as caught:
        services.update_need(session, chu_buyer, need, {"annual_amount": Decimal("1.00")})
    assert caught.value.code == "need_grouped"
    with pytest.raises(Conflict):
        services.delete_need(session, chu_buyer, need)


def test_update_refuses_unknown_fields(session, chu_buyer):
    need = services.create_need(session, chu_buyer, values())
    with pytest.raises(ValidationFailed) as caught:
        services.update_need(session, chu_buyer, need, {"organization_id": 99})
    assert "organization_id" in caught.value.reasons


def test_filters_by_cpv_prefix_at_any_level_status_and_period(session, chu_buyer):
    services.create_need(session, chu_buyer, values(cpv_code="09310000"), status="submitted")
    services.create_need(session, chu_buyer, values(cpv_code="09123000", start_date=date(2028, 1, 1)))
    services.create_need(session, chu_buyer, values(cpv_code="90911200"), status="submitted")

    def titles(**kw):
        stmt = services.filtered_needs(chu_buyer, NeedFilters(**kw))
        return sorted(n.cpv_code for n in session.scalars(stmt))

    assert titles(cpv="09") == ["09123000", "09310000"]
    assert titles(cpv="09300000") == ["09310000"]
    assert titles(cpv="0931") == ["09310000"]
    assert titles(status="submitted") == ["09310000", "90911200"]
    assert titles(start_from=date(2027, 6, 1)) == ["09123000"]
    with pytest.raises(ValidationFailed):
        titles(cpv="9")


def test_cursor_pages_cover_every_need_once(session, chu_buyer):
    for i in range(7):
        services.create_need(session, chu_buyer, values(title=f"Besoin {i}"))
    seen, cursor = [], None
    while True:
        page = services.list_needs_page(session, chu_buyer, NeedFilters(), cursor=cursor, limit=3)
        seen += [n.id for n in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == 7 == len(set(seen))
    with pytest.raises(ValidationFailed):
        services.list_needs_page(session, chu_buyer, NeedFilters(), cursor="garbage!", limit=3)


CSV_OK = "intitulé;code CPV;montant annuel HT;date de début;durée (mois)\nÉlectricité;09310000;1 234,50;01/03/2027;36\n"


def test_import_writes_every_row_for_the_buyers_organization(session, chu_buyer):
    needs = services.import_needs(session, chu_buyer, CSV_OK.encode("utf-8-sig"), "besoins.csv")
    assert [(n.title, n.annual_amount, n.status) for n in needs] == [("Électricité", Decimal("1234.50"), "submitted")]
    assert needs[0].organization_id == chu_buyer.organization_id


def test_import_is_all_or_nothing_and_reports_every_bad_row(session, chu_buyer):
    bad = (
        CSV_OK + "Mauvais;99999999;-5;31/02/2027;0\nSans titre;09310000;10;01/01/2027;12\n;09310000;10;01/01/2027;12\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        services.import_needs(session, chu_buyer, bad.encode(), "besoins.csv")
    rows = caught.value.rows
    assert {(r["row"], r["column"]) for r in rows} >= {
        (3, "cpv_code"),
        (3, "annual_amount_eur"),
        (3, "start_date"),
        (3, "duration_months"),
        (5, "title"),
    }
    assert session.scalar(sa.select(sa.func.count(Need.id))) == 0


def test_system_imports_for_a_named_organization_but_suppliers_cannot(session):
    dm = factories.organization("DM")
    needs = services.import_needs(session, SYSTEM, CSV_OK.encode(), "b.csv", organization=dm, status="draft")
    assert needs[0].organization_id == dm.id and needs[0].status == "draft"
    with pytest.raises(NotPermitted):
        services.import_needs(session, factories.user("supplier"), CSV_OK.encode(), "b.csv")


def test_a_wrong_check_digit_is_refused_in_forms_and_imports(session, chu_buyer):
    with pytest.raises(ValidationFailed) as caught:
        services.create_need(session, chu_buyer, values(cpv_code="09310000-4"))
    assert "09310000" in caught.value.reasons["cpv_code"][0] and "5" in caught.value.reasons["cpv_code"][0]
    csv_text = CSV_OK.replace(";09310000;", ";09310000-4;")
    with pytest.raises(ValidationFailed) as caught:
        services.import_needs(session, chu_buyer, csv_text.encode(), "besoins.csv")
    assert [(r["row"], r["column"]) for r in caught.value.rows] == [(2, "cpv_code")]


def test_text_search_treats_wildcards_literally(session, chu_buyer):
    services.create_need(session, chu_buyer, values(title="5000 ramettes"))
    services.create_need(session, chu_buyer, values(title="Remise 50% sur papier"))
    stmt = services.filtered_needs(chu_buyer, NeedFilters(q="50%"))
    assert [n.title for n in session.scalars(stmt)] == ["Remise 50% sur papier"]
    assert list(session.scalars(services.filtered_needs(chu_buyer, NeedFilters(q="\\")))) == []


def test_a_need_brought_to_a_forming_group_is_not_deleted(session, clock):
    from app.groups import services as group_services

    organization = factories.organization("CHU")
    buyer = factories.user("buyer", organization_=organization)
    coordinator = factories.user("coordinator", organization_=organization)
    need = factories.need(organization, cpv="09310000", annual="10000.00")
    group_services.form_group(session, coordinator, name="G", need_ids=[need.id])
    assert need.status == "submitted"  # frozen ("grouped") only once the group is constituted
    with pytest.raises(Conflict) as caught:
        services.delete_need(session, buyer, need)
    assert caught.value.code == "need_grouped" and session.get(Need, need.id) is not None


def test_needs_sorted_by_title_read_as_french_words_accents_and_case_second(session):
    """'Bâtiment' before 'Bureau' (a byte order puts 'â' after every unaccented letter), 'école' among the e's."""
    org = factories.organization("ACC")
    buyer = factories.user("buyer", organization_=org)
    for title in ("Bureau", "Bâtiment", "entretien", "école", "Zinguerie", "abri"):
        factories.need(org, title=title)
    session.commit()
    stmt = services.ordered(services.filtered_needs(buyer, NeedFilters()), NeedFilters(sort="title"))
    assert [n.title for n in session.scalars(stmt)] == ["abri", "Bâtiment", "Bureau", "école", "entretien", "Zinguerie"]
    backwards = services.ordered(
        services.filtered_needs(buyer, NeedFilters()), NeedFilters(sort="title", descending=True)
    )
    assert [n.title for n in session.scalars(backwards)][:2] == ["Zinguerie", "entretien"]
