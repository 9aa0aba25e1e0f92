"""The OCDS 1.1 release package of a call (Open Contracting Data Standard), public once the call is published.

Before the award the release has the tender: its lots, items, documents and the answered questions. Bids (amounts,
tenderers, their number) appear only once every lot is decided, never before; awards as they are made, with one
`contracts[]` entry per member organization and its share. Parties are identified by their SIRET under the
org-id.guide scheme for France, FR-RCS (the register that lists FR-INSEE as deprecated in its favour and gives SIRETs
as its example identifiers). The OCID prefix is configuration (OCDS_OCID_PREFIX). OCDS amounts are JSON numbers.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.calls.models import Award, Bid, Call, CallLot
from app.calls.services.evaluation import contracts_of
from app.calls.values import (
    awarded_total_value,
    call_procedure,
    call_total_value,
    contract_period,
)
from app.clock import PARIS, utcnow
from app.organizations.models import Organization, SupplierCompany
from app.reference.models import CpvCode

DEFAULT_OCID_PREFIX = "ocds-mutualis"
IDENTIFIER_SCHEME = "FR-RCS"  # org-id.guide, France: the SIRET of the establishment
EXTENSIONS = [
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_enquiry_extension/v1.1.5/extension.json",
]
TENDER_STATUS = {
    "draft": "planning",
    "published": "active",
    "closed": "active",
    "evaluated": "active",
    "awarded": "complete",
    "cancelled": "cancelled",
    "unsuccessful": "unsuccessful",
}
LOT_STATUS = {"open": "active", "awarded": "complete", "unsuccessful": "unsuccessful"}
# Every Mutualis call is published to all suppliers: an open method whatever the procedure; the details name it.
PROCUREMENT_METHOD = {
    "formal": ("open", "Appel d'offres ouvert (procédure formalisée, art. R2124-2 du code de la commande publique)"),
    "adapted": ("open", "Procédure adaptée ouverte (MAPA, art. R2123-1 du code de la commande publique)"),
    "none": (
        "open",
        "Procédure adaptée ouverte, sous le seuil de dispense de publicité et de mise en concurrence "
        "(art. R2122-8 du code de la commande publique)",
    ),
}
DECIDED = ("awarded", "unsuccessful")  # every lot decided: the bids may be published


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _day(day: date, *, last: bool = False) -> str:
    """A calendar day as OCDS dates are written, in Paris with the offset: its first second, or its last."""
    return datetime.combine(day, time(23, 59, 59) if last else time(), PARIS).isoformat()


def _money(amount) -> dict:
    return {"amount": float(amount), "currency": "EUR"}


def party_id(siret: str | None, fallback: str) -> str:
    return f"{IDENTIFIER_SCHEME}-{siret}" if siret else f"MUTUALIS-ORG-{fallback}"


class _Parties:
    """The parties of a release, each once, with every role it plays."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}

    def add(self, siret: str | None, fallback: str, name: str, postcode: str | None, role: str) -> dict:
        identifier = party_id(siret, fallback)
        entry = self.entries.get(identifier)
        if entry is None:
            entry = {"id": identifier, "name": name, "roles": []}
            if siret:
                entry["identifier"] = {"scheme": IDENTIFIER_SCHEME, "id": siret, "legalName": name}
            if postcode:
                entry["address"] = {"postalCode": postcode, "countryName": "France"}
            self.entries[identifier] = entry
        if role not in entry["roles"]:
            entry["roles"].append(role)
        return {"id": identifier, "name": name}

    def organization(self, organization: Organization, role: str) -> dict:
        return self.add(organization.siret, organization.code, organization.name, organization.postcode, role)

    def supplier(self, company: SupplierCompany, role: str) -> dict:
        return self.add(company.siret, f"supplier-{company.id}", company.name, company.postcode, role)


def ocid(call: Call, prefix: str = DEFAULT_OCID_PREFIX) -> str:
    return f"{prefix}-call-{call.id}"


def release_package(
    session: Session, call: Call, *, uri: str, ocid_prefix: str = DEFAULT_OCID_PREFIX, now: datetime | None = None
) -> dict:
    now = now or utcnow()
    group = call.group
    parties = _Parties()
    buyer_ref = parties.organization(group.coordinator_organization, "buyer")
    parties.organization(group.coordinator_organization, "procuringEntity")
    for membership in group.memberships:
        if membership.status == "signed":
            parties.organization(membership.organization, "buyer")

    release = {
        "ocid": ocid(call, ocid_prefix),
        "id": f"call-{call.id}-{call.status}-{call.version}",
        "date": _iso(now),
        "tag": ["tender"],
        "initiationType": "tender",
        "language": "fr",
        "buyer": buyer_ref,
        "tender": _tender(session, call, buyer_ref, uri, now),
    }
    awards = list(
        session.scalars(sa.select(Award).join(Award.lot).where(CallLot.call_id == call.id).order_by(CallLot.number))
    )
    if call.status in DECIDED:
        _add_bids(session, call, release, parties)
    if awards:
        release["tag"] = ["award", "contract"]
        release["awards"] = [
            {
                "id": f"award-{award.id}",
                "title": award.lot.title,
                "status": "active",
                "date": _iso(award.awarded_at),
                "value": _money(awarded_total_value(award)),
                "suppliers": [parties.supplier(award.bid.supplier, "supplier")],
                "relatedLots": [str(award.lot_id)],
            }
            for award in awards
        ]
        release["contracts"] = _contracts(session, call, parties)
    if call.status == "cancelled":
        release["tag"] = ["tenderCancellation"]
    release["parties"] = list(parties.entries.values())
    return {
        "uri": uri,
        "version": "1.1",
        "extensions": EXTENSIONS,
        "publishedDate": _iso(now),
        "publisher": {"name": "Mutualis"},
        "releases": [release],
    }


def _tender(session: Session, call: Call, buyer_ref: dict, uri: str, now: datetime) -> dict:
    labels = dict(
        session.execute(
            sa.select(CpvCode.code, CpvCode.label_fr).where(CpvCode.code.in_([lot.cpv_code for lot in call.lots]))
        ).all()
    )
    divisions = {lot.cpv_code[:2] for lot in call.lots}
    category = "works" if divisions == {"45"} else ("goods" if all(d < "45" for d in divisions) else "services")
    procedure = call_procedure(call, now.astimezone(PARIS).date())
    tender = {
        "id": f"call-{call.id}",
        "title": call.title,
        "description": call.description or call.title,
        "status": TENDER_STATUS[call.status],
        "procuringEntity": buyer_ref,
        "value": _money(call_total_value(call)),
        "mainProcurementCategory": category,
        "awardCriteria": "ratedCriteria",
        "awardCriteriaDetails": ", ".join(f"{c.name} {c.weight} %" for c in call.criteria),
        "items": [
            {
                "id": f"item-{lot.id}",
                "description": lot.title,
                "relatedLot": str(lot.id),
                "classification": {"scheme": "CPV", "id": lot.cpv_code, "description": labels.get(lot.cpv_code, "")},
            }
            for lot in call.lots
        ],
        "lots": [
            {
                "id": str(lot.id),
                "title": lot.title,
                "description": lot.description or lot.title,
                "value": _money(lot.total_amount),
                "status": LOT_STATUS[lot.status],
            }
            for lot in call.lots
        ],
        "tenderPeriod": {"startDate": _iso(call.published_at), "endDate": _iso(call.bid_deadline)},
        "enquiryPeriod": {"startDate": _iso(call.published_at), "endDate": _iso(call.questions_deadline)},
        "hasEnquiries": any(q.answer for q in call.questions),
        "enquiries": [
            {
                "id": f"enquiry-{q.id}",
                "description": q.text,
                "answer": q.answer,
                "dateAnswered": _iso(q.answered_at),
            }
            for q in call.questions
            if q.answer
        ],
        "documents": [
            {
                "id": f"doc-{d.id}",
                "documentType": "biddingDocuments",
                "title": d.filename,
                "url": uri.rsplit("/ocds", 1)[0] + f"/documents/{d.id}",
                "format": d.content_type,
                "datePublished": _iso(d.uploaded_at),
            }
            for d in call.documents
        ],
    }
    if procedure is not None:
        tender["procurementMethod"], tender["procurementMethodDetails"] = PROCUREMENT_METHOD[procedure.code]
    return tender


def _add_bids(session: Session, call: Call, release: dict, parties: _Parties) -> None:
    bids = list(
        session.scalars(
            sa.select(Bid).where(Bid.call_id == call.id, Bid.status == "active").order_by(Bid.submitted_at, Bid.id)
        )
    )
    tenderers: dict[str, dict] = {}
    details = []
    for bid in bids:
        ref = parties.supplier(bid.supplier, "tenderer")
        tenderers[ref["id"]] = ref
        details.append(
            {
                "id": f"bid-{bid.id}",
                "date": _iso(bid.submitted_at),
                "status": "valid",
                "tenderers": [ref],
                "value": _money(bid.amount),
                "relatedLots": [str(bid.lot_id)],
            }
        )
    release["tender"]["tenderers"] = list(tenderers.values())
    release["tender"]["numberOfTenderers"] = len(tenderers)
    release["bids"] = {"details": details}


# The contract's status by the calendar (app.domain.contracts) in the OCDS contractStatus codelist.
OCDS_CONTRACT_STATUS = {
    "standstill": "pending",
    "to_sign": "pending",
    "signed": "active",
    "running": "active",
    "ended": "terminated",
}


def status_of(contract) -> str:
    from app.contracts.services import status_of as contract_status

    return contract_status(contract)


def _contracts(session: Session, call: Call, parties: _Parties) -> list[dict]:
    """One contract per member organization and awarded lot, with the member's share of the award."""
    entries = []
    period = contract_period(call)
    for contract in contracts_of(session, call):
        organization = contract.organization
        parties.organization(organization, "buyer")
        share = (contract.share * 100).quantize(Decimal("0.01"))
        entries.append(
            {
                "id": f"contract-{contract.id}",
                "awardID": f"award-{contract.award_id}",
                "title": f"{contract.award.lot.title} — {organization.name}",
                "description": f"Part de {organization.name} ({party_id(organization.siret, organization.code)}) : "
                f"{share} % du lot, valeur totale estimée HT.",
                "status": OCDS_CONTRACT_STATUS[status_of(contract)],
                "value": _money(contract.amount),
            }
        )
        if contract.signed_on is not None:
            entries[-1]["dateSigned"] = _day(contract.signed_on)
        if period is not None:  # the initial duration; maxExtentDate with every renewal taken
            entries[-1]["period"] = {
                "startDate": _day(period.start),
                "endDate": _day(period.end, last=True),
                "maxExtentDate": _day(period.max_extent, last=True),
            }
    return entries
