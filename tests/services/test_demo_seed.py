import sqlalchemy as sa
from stdnum.fr import siret

from app.accounts.models import User
from app.demo import seed_demo
from app.organizations.models import Organization, SupplierCompany

API_ACCOUNTS = {
    "admin@demo.mutualis.fr": ("admin", None),
    "coordination@demo.mutualis.fr": ("coordinator", "DM"),
    "achats.chu@demo.mutualis.fr": ("buyer", "CHU"),
    "achats.ub@demo.mutualis.fr": ("buyer", "UB"),
    "achats.gdh@demo.mutualis.fr": ("buyer", "GDH"),
    "achats.metropole@demo.mutualis.fr": ("buyer", "DM"),
}
BFC_DEPARTEMENTS = {"21", "25", "39", "58", "70", "71", "89", "90"}


def test_seed_creates_the_demo_accounts_of_the_api_contract(session):
    seed_demo(session)
    session.commit()
    users = {u.email: u for u in session.scalars(sa.select(User))}
    for email, (role, org) in API_ACCOUNTS.items():
        assert users[email].role == role
        assert (users[email].organization.code if users[email].organization else None) == org
        assert users[email].check_password("mutualis-demo")
    for i in (1, 2, 3):
        assert users[f"fournisseur{i}@demo.mutualis.fr"].role == "supplier"
    names = set(session.scalars(sa.select(Organization.name)))
    assert {"CHU Dijon Bourgogne", "Université de Bourgogne", "Grand Dijon Habitat", "Dijon Métropole"} <= names


def test_seed_suppliers_are_local_marked_demo_and_have_valid_sirets(session):
    seed_demo(session)
    companies = session.scalars(sa.select(SupplierCompany)).all()
    assert len(companies) >= 30
    assert all(siret.is_valid(c.siret) for c in companies)
    assert len({c.siret for c in companies}) == len(companies)
    assert all(c.postcode[:2] in BFC_DEPARTEMENTS for c in companies)
    assert sum(c.postcode.startswith("21") for c in companies) >= 15
    assert all(c.is_demo and "(démo)" in c.name and c.trades for c in companies)


def test_seed_is_idempotent(session):
    first = seed_demo(session)
    session.commit()
    second = seed_demo(session)
    session.commit()
    assert first.users == 9 and first.organizations == 4 and first.suppliers >= 30
    assert (second.users, second.organizations, second.suppliers) == (0, 0, 0)
    assert session.scalar(sa.select(sa.func.count(User.id))) == 9


def test_seed_demo_command_reports_what_it_created(web_app):
    result = web_app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "4 organization(s), 9 account(s)" in result.output and "3 group(s)" in result.output


def test_seed_creates_groups_and_calls_through_the_services(session):
    from app.calls.models import Award, BidScore, Call
    from app.calls.services import effective_status
    from app.groups.models import PurchaseGroup

    seed_demo(session)
    session.commit()
    statuses = sorted(session.scalars(sa.select(PurchaseGroup.status)))
    assert statuses == ["constituted", "constituted", "forming"]
    calls = {effective_status(c): c for c in session.scalars(sa.select(Call))}
    assert set(calls) == {"published", "awarded"}
    assert calls["published"].bid_deadline > calls["published"].published_at
    assert session.scalar(sa.select(sa.func.count(Award.id))) >= 1
    assert session.scalar(sa.select(sa.func.count(BidScore.bid_id))) >= 2


def test_the_demo_organizations_have_sirets_and_the_awarded_demo_call_publishes_valid_open_data(session):
    from app.actors import SYSTEM
    from app.calls.decp import decp_export
    from app.calls.models import Call
    from app.calls.ocds import release_package
    from tests.schemas import decp_errors, ocds_errors

    seed_demo(session)
    session.commit()
    organizations = session.scalars(sa.select(Organization).where(Organization.is_demo)).all()
    assert len(organizations) == 4 and all(siret.is_valid(o.siret) for o in organizations)
    export = decp_export(session, SYSTEM)
    assert export.omitted == 0 and export.document["marches"]["marche"]
    assert decp_errors(export.document) == []
    for call in session.scalars(sa.select(Call).where(Call.published_at.is_not(None))):
        assert (
            ocds_errors(release_package(session, call, uri=f"https://demo.example/api/v1/calls/{call.id}/ocds")) == []
        )
