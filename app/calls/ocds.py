"""The OCDS 1.1 release package of a call (Open Contracting Data Standard), for open-data portals.

Bids and tenderers appear only after the bid deadline; awards once made. OCDS amounts are JSON numbers.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.calls.models import Award, Bid, Call, CallLot
from app.clock import utcnow
from app.organizations.models import Organization, SupplierCompany
from app.reference.models import CpvCode

OCID_PREFIX = "ocds-mutualis"
EXTENSIONS = [
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
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


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _org_id(organization: Organization) -> str:
    return f"FR-SIRET-{organization.siret}" if organization.siret else f"MUTUALIS-ORG-{organization.code}"


def _supplier_id(company: SupplierCompany) -> str:
    return f"FR-SIRET-{company.siret}"


def _money(amount) -> dict:
    return {"amount": float(amount), "currency": "EUR"}


def release_package(session: Session, call: Call, *, uri: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    unsealed = call.deadline_passed(now) and call.status not in ("draft", "cancelled")
    group = call.group
    coordinator = group.coordinator_organization
    parties: dict[str, dict] = {}

    def party(identifier: str, name: str, role: str, **extra) -> dict:
        entry = parties.setdefault(identifier, {"id": identifier, "name": name, "roles": [], **extra})
        if role not in entry["roles"]:
            entry["roles"].append(role)
        return {"id": identifier, "name": name}

    buyer_ref = party(_org_id(coordinator), coordinator.name, "buyer")
    party(_org_id(coordinator), coordinator.name, "procuringEntity")
    for membership in group.memberships:
        if membership.status == "signed":
            party(_org_id(membership.organization), membership.organization.name, "buyer")

    labels = dict(
        session.execute(
            sa.select(CpvCode.code, CpvCode.label_fr).where(CpvCode.code.in_([lot.cpv_code for lot in call.lots]))
        ).all()
    )
    lots = [
        {
            "id": str(lot.id),
            "title": lot.title,
            "description": lot.description or lot.title,
            "value": _money(lot.estimated_amount),
            "status": {"open": "active", "awarded": "complete", "unsuccessful": "unsuccessful"}[lot.status],
        }
        for lot in call.lots
    ]
    items = [
        {
            "id": f"item-{lot.id}",
            "description": lot.title,
            "relatedLot": str(lot.id),
            "classification": {"scheme": "CPV", "id": lot.cpv_code, "description": labels.get(lot.cpv_code, "")},
        }
        for lot in call.lots
    ]
    total = sum((lot.estimated_amount for lot in call.lots), 0)
    divisions = {lot.cpv_code[:2] for lot in call.lots}
    category = "works" if divisions == {"45"} else ("goods" if all(d < "45" for d in divisions) else "services")
    tender = {
        "id": f"call-{call.id}",
        "title": call.title,
        "description": call.description or call.title,
        "status": TENDER_STATUS[call.status if call.status != "published" or not unsealed else "closed"],
        "procuringEntity": buyer_ref,
        "value": _money(total),
        "procurementMethod": "open",
        "mainProcurementCategory": category,
        "awardCriteria": "ratedCriteria",
        "awardCriteriaDetails": ", ".join(f"{c.name} {c.weight} %" for c in call.criteria),
        "items": items,
        "lots": lots,
        "tenderPeriod": {"startDate": _iso(call.published_at), "endDate": _iso(call.bid_deadline)},
        "enquiryPeriod": {"startDate": _iso(call.published_at), "endDate": _iso(call.questions_deadline)},
        "documents": [
            {"id": f"doc-{d.id}", "title": d.filename, "format": d.content_type, "datePublished": _iso(d.uploaded_at)}
            for d in call.documents
        ],
    }
    release = {
        "ocid": f"{OCID_PREFIX}-call-{call.id}",
        "id": f"call-{call.id}-{call.status}-{call.version}",
        "date": _iso(now),
        "tag": ["tender"],
        "initiationType": "tender",
        "language": "fr",
        "buyer": buyer_ref,
        "tender": tender,
    }
    if unsealed:
        bids = list(
            session.scalars(
                sa.select(Bid).where(Bid.call_id == call.id, Bid.status == "active").order_by(Bid.submitted_at, Bid.id)
            )
        )
        tenderers = {}
        details = []
        for bid in bids:
            ref = party(_supplier_id(bid.supplier), bid.supplier.name, "tenderer")
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
        tender["tenderers"] = list(tenderers.values())
        tender["numberOfTenderers"] = len(tenderers)
        release["bids"] = {"details": details}
        awards = list(
            session.scalars(sa.select(Award).join(Award.lot).where(CallLot.call_id == call.id).order_by(CallLot.number))
        )
        if awards:
            release["tag"] = ["award"]
            release["awards"] = [
                {
                    "id": f"award-{award.id}",
                    "title": award.lot.title,
                    "status": "active",
                    "date": _iso(award.awarded_at),
                    "value": _money(award.bid.amount),
                    "suppliers": [party(_supplier_id(award.bid.supplier), award.bid.supplier.name, "supplier")],
                    "relatedLots": [str(award.lot_id)],
                }
                for award in awards
            ]
    if call.status == "cancelled":
        release["tag"] = ["tenderCancellation"]
    release["parties"] = list(parties.values())
    return {
        "uri": uri,
        "version": "1.1",
        "extensions": EXTENSIONS,
        "publishedDate": _iso(now),
        "publisher": {"name": "Mutualis"},
        "releases": [release],
    }
