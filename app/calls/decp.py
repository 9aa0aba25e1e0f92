"""The essential data of the contracts awarded through Mutualis ("données essentielles de la commande publique"), in
the official DECP 2.0.3 JSON format (`{"marches": {"marche": [...]}}`): what buyers publish for every contract from
40 k€ (arrêtés of 22 December 2022, modified 22 December 2023).

One `marche` per awarded lot. The buyer (`acheteur`) is the coordinating organization, which runs the procedure for
the group ("mandataire"); the holder (`titulaires`) is the winner; `montant` the awarded total value excl. VAT;
`offresRecues` the bids received on the lot. The format requires fields a call does not record: those are published
with the values in DECP_DEFAULTS (no advance, no subcontracting declared, no grouping of operators, unit prices
revised over the contract), and the contract is dated by its award. A lot whose coordinating organization has no
SIRET cannot be published (the format identifies buyers by SIRET only): it is left out and counted.

Coordinators and administrators read every organization's; buyers their own organization's (the groups it
coordinates or holds a contract of); suppliers and anonymous visitors nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload

from app.actors import SEE_ALL, require_role
from app.calls.models import Award, Bid, Call, CallLot, Contract
from app.calls.values import awarded_total_value, call_procedure, contract_months
from app.clock import PARIS, paris_today
from app.domain.procedures import nature_of_codes
from app.groups.models import PurchaseGroup
from app.organizations.services import organization_scope

READERS = ("buyer", *SEE_ALL)
PROCEDURE = {
    "formal": "Appel d'offres ouvert",
    "adapted": "Procédure adaptée",
    # A call below the threshold is still published to every supplier: an adapted procedure, not a contract
    # "sans publicité ni mise en concurrence".
    "none": "Procédure adaptée",
}
# By procedures.nature_of_codes: social and other specific services (Annex XIV) are services too.
CCAG = {
    "works": "Travaux",
    "supplies_services": "Fournitures courantes et services",
    "social_services": "Fournitures courantes et services",
}
DECP_DEFAULTS = {
    "nature": "Marché",
    "techniques": {"technique": ["Sans objet"]},
    "modalitesExecution": {"modaliteExecution": ["Sans objet"]},
    "marcheInnovant": False,
    "attributionAvance": False,
    "typeGroupementOperateurs": "Pas de groupement",
    "sousTraitanceDeclaree": False,
    "formePrix": "Unitaire",
    "typesPrix": {"typePrix": ["Définitif révisable"]},
}
OBJECT_MAX = 1000


@dataclass
class DecpExport:
    document: dict
    omitted: int = 0  # awarded lots left out: their coordinating organization has no SIRET


def _scope(session: Session, actor, organization: str | None) -> list[int] | None:
    """The organization ids whose contracts the actor reads (None: all)."""
    require_role(actor, READERS, _l("The essential data of contracts are for buyers and coordinators."))
    return organization_scope(session, actor, organization, _l("Buyers read their own organization's contracts only."))


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime.combine(date(year, 1, 1), time(), PARIS)
    end = datetime.combine(date(year + 1, 1, 1), time(), PARIS)
    return start, end


def decp_export(
    session: Session, actor, *, year: int | None = None, organization: str | None = None, call_id: int | None = None
) -> DecpExport:
    """The DECP document of the lots awarded in `year` (Paris time; None: every year), of one call or all."""
    scope = _scope(session, actor, organization)
    stmt = (
        sa.select(Award)
        .join(CallLot, Award.lot_id == CallLot.id)
        .join(Call, CallLot.call_id == Call.id)
        .join(PurchaseGroup, Call.group_id == PurchaseGroup.id)
        .options(
            joinedload(Award.lot).joinedload(CallLot.call).selectinload(Call.criteria),
            joinedload(Award.lot).joinedload(CallLot.call).selectinload(Call.lots),
            joinedload(Award.lot).joinedload(CallLot.group_lot),
            joinedload(Award.lot)
            .joinedload(CallLot.call)
            .joinedload(Call.group)
            .selectinload(PurchaseGroup.group_needs),
            joinedload(Award.lot)
            .joinedload(CallLot.call)
            .joinedload(Call.group)
            .selectinload(PurchaseGroup.memberships),
        )
        .order_by(Award.awarded_at, CallLot.number, Award.id)
    )
    if year is not None:
        start, end = _year_bounds(year)
        stmt = stmt.where(Award.awarded_at >= start, Award.awarded_at < end)
    if call_id is not None:
        stmt = stmt.where(Call.id == call_id)
    if scope is not None:
        holds = sa.select(Contract.id).where(Contract.award_id == Award.id, Contract.organization_id.in_(scope))
        stmt = stmt.where(sa.or_(PurchaseGroup.coordinator_organization_id.in_(scope), holds.exists()))
    awards = list(session.scalars(stmt).unique())
    received = Counter(
        dict(
            session.execute(
                sa.select(Bid.lot_id, sa.func.count(Bid.id))
                .where(Bid.lot_id.in_([a.lot_id for a in awards]), Bid.status == "active")
                .group_by(Bid.lot_id)
            ).all()
        )
    )
    modifications = _modifications(session, [a.id for a in awards])
    signed = dict(
        session.execute(
            sa.select(Contract.award_id, sa.func.min(Contract.signed_on))
            .where(Contract.award_id.in_([a.id for a in awards]), Contract.signed_on.is_not(None))
            .group_by(Contract.award_id)
        ).all()
    )
    marches, omitted = [], 0
    for award in awards:
        siret = award.lot.call.group.coordinator_organization.siret
        if not siret:
            omitted += 1
            continue
        marche = _marche(award, siret, received[award.lot_id], signed.get(award.id))
        if modifications.get(award.id):
            marche["modifications"] = _modification_items(award, marche, modifications[award.id])
        marches.append(marche)
    return DecpExport({"marches": {"marche": marches}}, omitted)


def _modifications(session: Session, award_ids: list[int]) -> dict[int, list]:
    """The amendments of the members' contracts of each award, in the order they were signed."""
    from app.contracts.models import ContractAmendment

    if not award_ids:
        return {}
    rows = session.execute(
        sa.select(Contract.award_id, ContractAmendment)
        .join(ContractAmendment, ContractAmendment.contract_id == Contract.id)
        .where(Contract.award_id.in_(award_ids))
        .order_by(
            ContractAmendment.signed_on, ContractAmendment.created_at, ContractAmendment.number, ContractAmendment.id
        )
    ).all()
    found: dict[int, list] = {}
    for award_id, amendment in rows:
        found.setdefault(award_id, []).append(amendment)
    return found


def _modification_items(award: Award, marche: dict, amendments: list) -> list[dict]:
    """DECP `modifications`: one per amendment of a member's contract, numbered from 1 in the order they were
    signed, each with the new total value of the award (all members) and the new duration when it changed, dated by
    its signature (the notification to the holder)."""
    items, amount, months = [], awarded_total_value(award), marche["dureeMois"]
    for number, amendment in enumerate(amendments, start=1):
        amount += amendment.amount_delta
        modification = {
            "id": number,
            "dateNotificationModification": amendment.signed_on.isoformat(),
            "datePublicationDonneesModification": max(amendment.signed_on, amendment.created_at.date()).isoformat(),
        }
        if amendment.amount_delta:
            modification["montant"] = float(max(amount, 1))
        if amendment.months_delta:
            months = max(months + amendment.months_delta, 1)
            modification["dureeMois"] = months
        items.append({"modification": modification})
    return items


def _place(lot: CallLot, call: Call) -> dict:
    """Where the contract is carried out: the lot's delivery postcode, else the coordinator's, else France."""
    area = (lot.group_lot.delivery_area if lot.group_lot else "").strip()[:5]
    if len(area) == 5 and area.isdigit():
        return {"code": area, "typeCode": "Code postal"}
    postcode = call.group.coordinator_organization.postcode
    if postcode:
        return {"code": postcode, "typeCode": "Code postal"}
    return {"code": "FR", "typeCode": "Code pays"}


def _marche(award: Award, buyer_siret: str, bids_received: int, signed_on: date | None = None) -> dict:
    """`dateNotification` is the first signature of a member's contract (its notification to the holder), or the
    award's date while none is signed."""
    lot = award.lot
    call = lot.call
    awarded_on = signed_on or award.awarded_at.astimezone(PARIS).date()
    procedure = call_procedure(call, paris_today())
    criteria = {c.name for c in call.criteria}
    return {
        "id": str(award.id),
        "acheteur": {"id": buyer_siret},
        "nature": DECP_DEFAULTS["nature"],
        "objet": f"{call.title} — lot {lot.number} : {lot.title}"[:OBJECT_MAX],
        "codeCPV": lot.cpv_code,
        "techniques": DECP_DEFAULTS["techniques"],
        "modalitesExecution": DECP_DEFAULTS["modalitesExecution"],
        "marcheInnovant": DECP_DEFAULTS["marcheInnovant"],
        "ccag": CCAG[nature_of_codes([lot.cpv_code])],
        "offresRecues": max(bids_received, 1),  # an awarded lot received at least the bid chosen
        "attributionAvance": DECP_DEFAULTS["attributionAvance"],
        "typeGroupementOperateurs": DECP_DEFAULTS["typeGroupementOperateurs"],
        "sousTraitanceDeclaree": DECP_DEFAULTS["sousTraitanceDeclaree"],
        "procedure": PROCEDURE[procedure.code if procedure else "adapted"],
        "lieuExecution": _place(lot, call),
        "dureeMois": contract_months(call),
        "dateNotification": awarded_on.isoformat(),
        "datePublicationDonnees": awarded_on.isoformat(),
        "montant": float(awarded_total_value(award)),
        "typesPrix": DECP_DEFAULTS["typesPrix"],
        "formePrix": DECP_DEFAULTS["formePrix"],
        "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": award.bid.supplier.siret}}],
        "considerationsSociales": {
            "considerationSociale": ["Critère social" if "social" in criteria else "Pas de considération sociale"]
        },
        "considerationsEnvironnementales": {
            "considerationEnvironnementale": [
                "Critère environnemental" if "environmental" in criteria else "Pas de considération environnementale"
            ]
        },
    }
