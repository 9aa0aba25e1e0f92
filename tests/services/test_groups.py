from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from app.groups import services
from app.groups.models import GroupEvent
from app.notifications.models import Notification
from tests import factories


@pytest.fixture
def world(db):
    orgs = {code: factories.organization(code) for code in ("DM", "CHU", "UB", "GDH")}
    people = {
        "coord": factories.user("coordinator", organization_=orgs["DM"]),
        "dm": factories.user("buyer", organization_=orgs["DM"]),
        "chu": factories.user("buyer", organization_=orgs["CHU"]),
        "ub": factories.user("buyer", organization_=orgs["UB"]),
        "gdh": factories.user("buyer", organization_=orgs["GDH"]),
        "admin": factories.user("admin"),
        "supplier": factories.user("supplier"),
    }
    needs = {
        "chu": factories.need(orgs["CHU"], annual="100000.00", months=36),
        "ub": factories.need(orgs["UB"], annual="80000.00", months=12, start=date(2027, 3, 1)),
        "gdh": factories.need(orgs["GDH"], annual="25000.00", months=24),
    }
    return orgs, people, needs


def formed(session, world, **kw):
    orgs, people, needs = world
    return services.form_group(
        session,
        people["coord"],
        name="Électricité 2027",
        need_ids=[n.id for n in needs.values()],
        scope_cpv_prefix="0931",
        **kw,
    )


def test_forming_invites_every_organization_of_the_needs_and_the_coordinator(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    assert group.status == "forming" and group.coordinator_organization.code == "DM"
    assert sorted(m.organization.code for m in group.memberships) == ["CHU", "DM", "GDH", "UB"]
    assert all(m.status == "invited" for m in group.memberships)
    invited = session.scalars(sa.select(Notification.user_id).where(Notification.kind == "group_invitation"))
    assert set(invited) == {people[k].id for k in ("dm", "chu", "ub", "gdh")}
    assert session.scalar(sa.select(GroupEvent.action).where(GroupEvent.group_id == group.id)) == "formed"


@pytest.mark.parametrize("role", ["buyer", "admin", "supplier"])
def test_only_coordinators_form_groups(session, world, role):
    orgs, people, needs = world
    actor = {"buyer": people["chu"], "admin": people["admin"], "supplier": people["supplier"]}[role]
    with pytest.raises(NotPermitted):
        services.form_group(session, actor, name="x", need_ids=[needs["chu"].id])


def test_drafts_and_unknown_needs_cannot_join(session, world):
    orgs, people, needs = world
    draft = factories.need(orgs["CHU"], status="draft")
    with pytest.raises(ValidationFailed) as caught:
        services.form_group(session, people["coord"], name="x", need_ids=[draft.id, 999999])
    assert "need_ids" in caught.value.reasons and len(caught.value.reasons["need_ids"]) == 2


def test_member_confirms_with_its_needs_and_adjusted_amounts(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    services.confirm_membership(
        session,
        people["chu"],
        group,
        [needs["chu"].id],
        {needs["chu"].id: {"annual_amount": Decimal("90000"), "quantity": Decimal("12")}},
    )
    membership = group.membership_of(orgs["CHU"].id)
    assert membership.status == "confirmed"
    gn = next(gn for gn in group.group_needs if gn.need_id == needs["chu"].id)
    assert gn.included and gn.annual_amount == Decimal("90000.00") and gn.quantity == Decimal("12")
    assert needs["chu"].annual_amount == Decimal("100000.00")  # the need itself is untouched
    kinds = set(session.scalars(sa.select(Notification.kind)))
    assert {"group_confirmed", "group_signature_request"} <= kinds


def test_a_buyer_cannot_confirm_for_another_organization_nor_bring_its_needs(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    outsider = factories.user("buyer", organization_=factories.organization("OUT"))
    with pytest.raises(NotPermitted):
        services.confirm_membership(session, outsider, group)
    with pytest.raises(NotPermitted):
        services.confirm_membership(session, people["chu"], group, [needs["chu"].id, needs["ub"].id])
    with pytest.raises(NotPermitted):
        services.confirm_membership(session, people["coord"], group)


def test_amounts_must_stay_positive(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    with pytest.raises(ValidationFailed) as caught:
        services.confirm_membership(
            session, people["chu"], group, None, {needs["chu"].id: {"annual_amount": Decimal("0")}}
        )
    assert f"adjustments.{needs['chu'].id}.annual_amount" in caught.value.reasons
    assert group.membership_of(orgs["CHU"].id).status == "invited"


def test_decline_needs_a_reason_and_a_declined_member_can_be_reinvited(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    with pytest.raises(ValidationFailed):
        services.decline_membership(session, people["gdh"], group, "  ")
    services.decline_membership(session, people["gdh"], group, "Contrat en cours jusqu'en 2029")
    membership = group.membership_of(orgs["GDH"].id)
    assert membership.status == "declined" and membership.decline_reason.startswith("Contrat")
    with pytest.raises(Conflict):
        services.confirm_membership(session, people["gdh"], group)
    services.invite_organization(session, people["coord"], group, "GDH")
    assert membership.status == "invited" and membership.decline_reason == ""
    services.confirm_membership(session, people["gdh"], group)
    assert membership.status == "confirmed"


def test_sign_requires_confirmation_and_records_the_date_and_reference_when_given(session, world, clock):
    orgs, people, needs = world
    group = formed(session, world)
    with pytest.raises(Conflict):
        services.sign_convention(
            session, people["chu"], group, signed_on=date(2026, 10, 1), deliberation_reference="D-1"
        )
    services.confirm_membership(session, people["chu"], group)
    with pytest.raises(ValidationFailed) as caught:
        services.sign_convention(session, people["chu"], group, signed_on=date(2026, 11, 24))
    assert set(caught.value.reasons) == {"signed_on"}  # not in the future (Paris)
    with pytest.raises(ValidationFailed) as caught:
        services.sign_convention(session, people["chu"], group, deliberation_reference="x" * 201)
    assert set(caught.value.reasons) == {"deliberation_reference"}
    services.sign_convention(
        session, people["chu"], group, signed_on=date(2026, 10, 1), deliberation_reference=" Délibération CA 2026-41 "
    )
    membership = group.membership_of(orgs["CHU"].id)
    assert membership.status == "signed" and membership.signed_by_id == people["chu"].id
    assert (membership.signed_on, membership.deliberation_reference) == (date(2026, 10, 1), "Délibération CA 2026-41")


def test_a_signature_without_date_or_reference_is_dated_today_in_paris(session, world, clock):
    orgs, people, needs = world
    group = formed(session, world)
    services.confirm_membership(session, people["chu"], group)
    services.sign_convention(session, people["chu"], group)
    membership = group.membership_of(orgs["CHU"].id)
    assert membership.status == "signed"
    assert (membership.signed_on, membership.deliberation_reference) == (date(2026, 11, 23), "")


def _all_answer(session, world, group, decline=("GDH",)):
    orgs, people, needs = world
    for code, buyer in (("DM", "dm"), ("CHU", "chu"), ("UB", "ub"), ("GDH", "gdh")):
        if code in decline:
            services.decline_membership(session, people[buyer], group, "Pas de besoin cette année")
            continue
        if code == "DM":  # the coordinating organization brings no need of its own here
            dm_need = factories.need(orgs["DM"], annual="20000.00")
            services.confirm_membership(session, people[buyer], group, [dm_need.id])
        else:
            services.confirm_membership(session, people[buyer], group)
    # Everyone has answered: the terms are settled, the members sign them.
    for code, buyer in (("DM", "dm"), ("CHU", "chu"), ("UB", "ub"), ("GDH", "gdh")):
        if code not in decline:
            services.sign_convention(
                session, people[buyer], group, signed_on=date(2026, 11, 2), deliberation_reference=f"DEL-{code}"
            )


def test_constitute_is_refused_while_members_are_pending(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    services.confirm_membership(session, people["chu"], group)
    with pytest.raises(Conflict) as caught:
        services.constitute_group(session, people["coord"], group)
    assert caught.value.code == "members_pending"
    pending = {p["organization"]: p["status"] for p in caught.value.details["pending"]}
    assert pending == {"CHU": "confirmed", "DM": "invited", "UB": "invited", "GDH": "invited"}


def test_constitution_freezes_the_members_needs(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    _all_answer(session, world, group)
    services.constitute_group(session, people["coord"], group)
    assert group.status == "constituted"
    assert needs["chu"].status == "grouped" and needs["ub"].status == "grouped"
    assert needs["gdh"].status == "submitted"  # declined: its need stays free
    assert {gn.need_id for gn in group.group_needs} == {
        needs["chu"].id,
        needs["ub"].id,
        *[gn.need_id for gn in group.group_needs if gn.organization_id == orgs["DM"].id],
    }
    from app.needs import services as need_services

    with pytest.raises(Conflict):
        need_services.update_need(session, people["chu"], needs["chu"], {"title": "changed"})
    with pytest.raises(Conflict):
        services.confirm_membership(session, people["chu"], group)
    constituted = session.scalars(sa.select(Notification.user_id).where(Notification.kind == "group_constituted"))
    assert {people["chu"].id, people["ub"].id, people["coord"].id} <= set(constituted)


def test_a_need_of_a_constituted_group_cannot_join_another(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    _all_answer(session, world, group)
    services.constitute_group(session, people["coord"], group)
    with pytest.raises(ValidationFailed):
        services.form_group(session, people["coord"], name="Autre", need_ids=[needs["chu"].id])


def test_two_forming_groups_sharing_a_need_the_second_cannot_constitute(session, world):
    orgs, people, needs = world
    first = formed(session, world)
    second = services.form_group(session, people["coord"], name="Doublon", need_ids=[needs["chu"].id, needs["ub"].id])
    _all_answer(session, world, first)
    services.constitute_group(session, people["coord"], first)
    for code, buyer in (("DM", "dm"), ("CHU", "chu"), ("UB", "ub")):
        membership = second.membership_of(orgs[code].id)
        if code == "DM":
            services.confirm_membership(session, people[buyer], second, [factories.need(orgs["DM"]).id])
        else:
            services.confirm_membership(session, people[buyer], second)
        services.sign_convention(
            session, people[buyer], second, signed_on=date(2026, 11, 2), deliberation_reference="X"
        )
        assert membership.status == "signed"
    with pytest.raises(Conflict) as caught:
        services.constitute_group(session, people["coord"], second)
    assert caught.value.code == "need_in_other_group"


def test_stale_version_is_refused_and_shows_the_current_values(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    session.flush()
    opened = group.version
    services.update_group(session, people["coord"], group, {"name": "Électricité verte"}, expected_version=opened)
    with pytest.raises(Conflict) as caught:
        services.update_group(session, people["coord"], group, {"name": "Autre nom"}, expected_version=opened)
    assert caught.value.code == "stale_version"
    assert caught.value.details["current"]["name"] == "Électricité verte"
    assert group.name == "Électricité verte"


def test_member_answers_bump_the_version_too(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    session.flush()
    opened = group.version
    services.confirm_membership(session, people["chu"], group)
    session.flush()
    with pytest.raises(Conflict):
        services.update_group(session, people["coord"], group, {"name": "x"}, expected_version=opened)


def test_activity_log_records_who_what_and_before_after_and_cannot_change(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    session.flush()
    services.update_group(
        session, people["coord"], group, {"planned_publication_on": date(2027, 1, 15)}, expected_version=group.version
    )
    log = services.events(session, people["coord"], group)
    assert [e.action for e in log] == ["updated", "formed"]
    assert log[0].before == {"planned_publication_on": None}
    assert log[0].after == {"planned_publication_on": "2027-01-15"} and log[0].actor_label == people["coord"].email
    log[0].after = {"planned_publication_on": "2030-01-01"}
    with pytest.raises(PermissionError):
        session.flush()
    session.rollback()


def test_visibility_of_groups(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    assert services.get_group(session, people["chu"], group.id) is group
    assert services.get_group(session, people["admin"], group.id) is group
    outsider = factories.user("buyer", organization_=factories.organization("OUT"))
    with pytest.raises(NotFound):
        services.get_group(session, outsider, group.id)
    with pytest.raises(NotPermitted):
        services.get_group(session, people["supplier"], group.id)


def test_member_proposes_another_need(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    extra = factories.need(orgs["UB"], cpv="09310000", annual="5000.00")
    services.propose_need(session, people["ub"], group, extra.id)
    assert extra.id in {gn.need_id for gn in group.group_needs}
    with pytest.raises(NotPermitted):
        services.propose_need(session, people["chu"], group, factories.need(orgs["UB"]).id)
    with pytest.raises(Conflict):
        services.propose_need(session, people["ub"], group, extra.id)


def test_summary_amounts_shares_procedures_and_timeline(session, world):
    orgs, people, needs = world
    group = formed(session, world, planned_publication_on=date(2026, 12, 1))
    summary = services.summarize(group, today=date(2026, 11, 23))
    # CHU 100 000 × 36/12 + UB 80 000 × 12/12 + GDH 25 000 × 24/12 = 300 000 + 80 000 + 50 000
    assert summary.total_amount == Decimal("430000.00") and summary.annual_amount == Decimal("205000.00")
    assert summary.procedure.code == "formal"
    by_org = {m.organization.code: m for m in summary.members}
    assert by_org["UB"].procedure_alone.code == "adapted" and by_org["GDH"].procedure_alone.code == "none"
    assert by_org["CHU"].share == Decimal("0.6977") and by_org["DM"].procedure_alone is None
    assert summary.required_start == date(2027, 3, 1)
    assert summary.timeline[-1].ends_on == date(2027, 3, 1)
    assert summary.timeline[0].key == "convention"
    steps = summary.timeline
    assert all(a.ends_on == b.starts_on for a, b in zip(steps, steps[1:], strict=False))


def test_lots_suggested_by_class_and_area_and_single_lot_needs_a_reason(session, world):
    orgs, people, needs = world
    gas = factories.need(orgs["UB"], cpv="09123000", annual="40000.00", postcode="71200")
    group = services.form_group(
        session, people["coord"], name="Énergie", need_ids=[needs["chu"].id, needs["ub"].id, gas.id]
    )
    suggestions = services.suggest_lots(session, group)
    assert [(s.cpv_code, s.delivery_area) for s in suggestions] == [("09120000", "71"), ("09310000", "21")]
    lot = services.create_lot(
        session,
        people["coord"],
        group,
        services.LotValues(
            title="Électricité",
            cpv_code="09310000",
            shares={
                "CHU": {"annual_amount": Decimal("100000"), "quantity": None},
                "UB": {"annual_amount": Decimal("80000"), "quantity": Decimal("3")},
            },
        ),
    )
    # Totals with each member's electricity needs: CHU 100 000 × 36/12 + UB 80 000 × 12/12 (UB's 36-month gas need
    # is in another lot and does not change the electricity share's duration)
    assert lot.number == 1 and lot.annual_amount == Decimal("180000")
    assert lot.estimated_amount == lot.total_amount == Decimal("380000.00")
    with pytest.raises(ValidationFailed):
        services.create_lot(
            session,
            people["coord"],
            group,
            services.LotValues(title="x", cpv_code="09310000", shares={"OUT": {"annual_amount": Decimal("1")}}),
        )
    with pytest.raises(ValidationFailed):
        services.create_lot(
            session,
            people["coord"],
            group,
            services.LotValues(title="x", cpv_code="09310000", shares={"CHU": {"annual_amount": Decimal("-1")}}),
        )
    session.flush()
    stale = lot.version
    services.update_lot(
        session,
        people["coord"],
        lot,
        services.LotValues(
            title="Électricité verte", cpv_code="09310000", shares={"CHU": {"annual_amount": Decimal("1")}}
        ),
        expected_version=stale,
    )
    session.flush()
    with pytest.raises(Conflict):
        services.update_lot(
            session,
            people["coord"],
            lot,
            services.LotValues(title="x", cpv_code="09310000", shares={"CHU": {"annual_amount": Decimal("1")}}),
            expected_version=stale,
        )
    for code, buyer in (("DM", "dm"), ("CHU", "chu"), ("UB", "ub")):
        if code == "DM":
            services.confirm_membership(session, people[buyer], group, [factories.need(orgs["DM"]).id])
        else:
            services.confirm_membership(session, people[buyer], group)
        services.sign_convention(
            session, people[buyer], group, signed_on=date.today() - timedelta(days=1), deliberation_reference="D"
        )
    with pytest.raises(ValidationFailed) as caught:
        services.constitute_group(session, people["coord"], group)
    assert "single_lot_reason" in caught.value.reasons
    services.update_group(
        session,
        people["coord"],
        group,
        {"single_lot_reason": "Un seul fournisseur réseau"},
        expected_version=group.version,
    )
    services.constitute_group(session, people["coord"], group)
    assert group.status == "constituted"


def test_the_coordinating_organization_may_confirm_without_a_need(session, world):
    orgs, people, needs = world
    group = services.form_group(session, people["coord"], name="G", need_ids=[needs["chu"].id, needs["ub"].id])
    services.confirm_membership(session, people["dm"], group)
    assert group.membership_of(orgs["DM"].id).status == "confirmed"
    with pytest.raises(ValidationFailed):
        services.confirm_membership(session, people["chu"], group, [])  # any other member brings a need


def test_abandoning_tells_the_members(session, world):
    orgs, people, needs = world
    group = formed(session, world)
    services.abandon_group(session, people["coord"], group, "Besoins trop différents")
    told = set(session.scalars(sa.select(Notification.user_id).where(Notification.kind == "group_abandoned")))
    assert told == {people[k].id for k in ("dm", "chu", "ub", "gdh")} and group.status == "abandoned"


@pytest.mark.parametrize(("launch", "code"), [(date(2026, 3, 31), "adapted"), (date(2026, 4, 1), "none")])
def test_the_group_s_procedure_uses_the_thresholds_in_force_on_the_day_the_consultation_is_launched(
    session, world, launch, code
):
    orgs, people, _ = world
    # 2 × 12 000 a year for 12 months, renewable once for 12 months: 48 000 in total (24 000 each)
    small = [factories.need(orgs[c], annual="12000.00", months=12, renewal_count=1) for c in ("CHU", "UB")]
    group = services.form_group(
        session, people["coord"], name="Petits achats", need_ids=[n.id for n in small], planned_publication_on=launch
    )
    summary = services.summarize(group, today=date(2026, 3, 1))
    assert summary.total_amount == Decimal("48000.00") and summary.rule_date == launch
    # 40 000 (décret n° 2019-1344) until 31 March 2026; 60 000 (décret n° 2025-1386) from 1 April 2026
    assert summary.procedure.code == code


def _signed_by_all(session, world):
    """Every member has answered (GDH declined) and signed: ready to be constituted."""
    orgs, people, needs = world
    group = formed(session, world)
    _all_answer(session, world, group)
    assert {m.organization.code: m.status for m in group.memberships} == {
        "DM": "signed",
        "CHU": "signed",
        "UB": "signed",
        "GDH": "declined",
    }
    return group


def _voided(session, group):
    events = session.scalars(
        sa.select(GroupEvent).where(GroupEvent.group_id == group.id, GroupEvent.action == "signatures_voided")
    ).all()
    return [event.after for event in events]


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ({"convention_duration_months": 24}, ["duration"]),
        ({"cost_sharing": "equal"}, ["cost_sharing"]),
    ],
)
def test_a_change_of_the_terms_after_signing_voids_every_signature(session, world, change, changed):
    orgs, people, needs = world
    group = _signed_by_all(session, world)
    services.update_group(session, people["coord"], group, change, expected_version=group.version)
    assert {m.status for m in group.memberships if m.status != "declined"} == {"confirmed"}
    assert all(m.signed_on is None and m.deliberation_reference == "" for m in group.memberships)
    assert _voided(session, group) == [{"changed": changed, "to_sign_again": ["CHU", "DM", "UB"]}]
    with pytest.raises(Conflict) as refused:
        services.constitute_group(session, people["coord"], group)
    assert refused.value.code == "members_pending"
    asked = session.scalars(sa.select(Notification.user_id).where(Notification.kind == "group_signature_request")).all()
    assert asked.count(people["chu"].id) == 2  # asked when it confirmed, and again to sign the new terms
    for code in ("dm", "chu", "ub"):
        services.sign_convention(session, people[code], group)
    services.constitute_group(session, people["coord"], group)
    assert group.status == "constituted"


def test_a_change_of_members_or_lots_voids_the_signatures_and_the_log_says_which(session, world):
    orgs, people, needs = world
    group = _signed_by_all(session, world)
    services.invite_organization(session, people["coord"], group, "GDH")
    assert _voided(session, group) == [{"changed": ["members", "needs"], "to_sign_again": ["CHU", "DM", "UB"]}]
    services.decline_membership(session, people["gdh"], group, "Toujours pas")
    for code in ("dm", "chu", "ub"):
        services.sign_convention(session, people[code], group)
    services.create_lot(
        session,
        people["coord"],
        group,
        services.LotValues(title="Électricité", cpv_code="09310000", shares={"CHU": {"annual_amount": Decimal("1")}}),
    )
    assert sorted(event["changed"] for event in _voided(session, group)) == [["lots"], ["members", "needs"]]


def test_changes_outside_the_terms_keep_the_signatures(session, world):
    orgs, people, needs = world
    group = _signed_by_all(session, world)
    services.update_group(
        session, people["coord"], group, {"name": "Électricité 2027-2030"}, expected_version=group.version
    )
    assert _voided(session, group) == []
    assert {m.status for m in group.memberships if m.status != "declined"} == {"signed"}


@pytest.mark.parametrize(
    ("change", "logged"),
    [
        ({"renewal_count": 2, "renewal_months": 12}, {"renewal_count": 2, "renewal_months": 12}),
        ({"duration_months": 48}, {"duration_months": 48}),
        ({"options_amount": Decimal("5000.00")}, {"options_amount": "5000.00"}),
        ({"annual_amount": Decimal("120000.00")}, {"annual_amount": "120000.00"}),
    ],
)
def test_a_buyer_s_edit_of_a_need_in_a_forming_group_voids_the_signatures(session, world, change, logged):
    from app.needs.services import update_need

    orgs, people, needs = world
    group = _signed_by_all(session, world)
    before = services.summarize(group, today=date(2026, 11, 29)).total_amount
    update_need(session, people["chu"], needs["chu"], change)
    assert {m.status for m in group.memberships if m.status != "declined"} == {"confirmed"}
    assert _voided(session, group) == [
        {"changed": ["needs"], "need": needs["chu"].id, "to_sign_again": ["CHU", "DM", "UB"]}
    ]
    edited = session.scalars(
        sa.select(GroupEvent).where(GroupEvent.group_id == group.id, GroupEvent.action == "need_changed")
    ).one()
    assert edited.after == {"need": needs["chu"].id, **logged}
    # the group's total follows the need's new estimated value (the group need was not adjusted)
    assert services.summarize(group, today=date(2026, 11, 29)).total_amount > before
    with pytest.raises(Conflict):
        services.constitute_group(session, people["coord"], group)


def test_a_need_adjusted_for_the_group_keeps_its_adjusted_amount_and_the_signatures(session, world):
    from app.needs.services import update_need

    orgs, people, needs = world
    group = formed(session, world)
    services.confirm_membership(
        session, people["chu"], group, [needs["chu"].id], {needs["chu"].id: {"annual_amount": Decimal("50000")}}
    )
    _all_answer(session, world, group)
    update_need(session, people["chu"], needs["chu"], {"annual_amount": Decimal("90000.00"), "title": "Autre titre"})
    gn = next(gn for gn in group.group_needs if gn.need_id == needs["chu"].id)
    assert gn.annual_amount == Decimal("50000.00")
    assert _voided(session, group) == []
    assert {m.status for m in group.memberships if m.status != "declined"} == {"signed"}
