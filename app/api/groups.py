from flask_login import current_user
from flask_smorest import Blueprint

from app import actions
from app.api.auth import require
from app.api.impact import impact_payload
from app.api.pagination import PageQuery, page_of
from app.api.schemas import (
    ConfirmBody,
    DeclineBody,
    ErrorEnvelope,
    EventList,
    GroupCreate,
    GroupList,
    GroupOut,
    GroupPatch,
    InviteBody,
    LotBody,
    LotOut,
    LotPatch,
    SignBody,
)
from app.clock import paris_today
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import posted_int
from app.groups import services
from app.groups.models import Lot, PurchaseGroup
from app.impact.services import group_impacts

blp = Blueprint("api_groups", __name__, description="Pooled-purchase groups (groupements de commandes)")


def group_payload(group: PurchaseGroup, impacts: dict | None = None) -> dict:
    """The group with its members' figures, as the contract shows it; `impacts` (group id → impact) computed for a
    whole page at once, else for this group."""
    if impacts is None:
        impacts = group_impacts(db.session, [group.id])
    summary = services.summarize(group, today=paris_today())
    figures = {m.organization.id: m for m in summary.members}
    members = []
    for membership in group.memberships:
        figure = figures[membership.organization_id]
        members.append(
            {
                "organization": membership.organization.code,
                "status": membership.status,
                "need_ids": [
                    gn.need_id
                    for gn in group.group_needs
                    if gn.organization_id == membership.organization_id
                    and (gn.included or membership.status == "invited")
                ],
                "annual_amount_eur": figure.annual_amount,
                "total_amount_eur": figure.total_amount,
                "share": str(figure.share),
                "decline_reason": membership.decline_reason,
                "signed_on": membership.signed_on,
                "deliberation_reference": membership.deliberation_reference,
            }
        )
    return {
        "id": group.id,
        "name": group.name,
        "status": group.status,
        "version": group.version,
        "scope_cpv_prefix": group.scope_cpv_prefix,
        "coordinator_organization": group.coordinator_organization.code,
        "planned_publication_on": group.planned_publication_on,
        "convention_duration_months": group.convention_duration_months,
        "cost_sharing": group.cost_sharing,
        "execution_mode": group.execution_mode,
        "single_lot_reason": group.single_lot_reason,
        "members": members,
        "annual_amount_eur": summary.annual_amount,
        "total_amount_eur": summary.total_amount,
        "procedure": summary.procedure,
        "procedure_unknown_reason": services.procedure_unknown_reason(summary),
        "lots": [lot_payload(lot) for lot in group.lots],
        "impact": impact_payload(impacts.get(group.id)),
    }


def lot_payload(lot: Lot) -> dict:
    total = lot.total_amount  # also its estimated amount: read once (each share's total is a ratio over the needs)
    return {
        "id": lot.id,
        "number": lot.number,
        "title": lot.title,
        "cpv_code": lot.cpv_code,
        "description": lot.description,
        "delivery_area": lot.delivery_area,
        "version": lot.version,
        "estimated_amount_eur": total,
        "annual_amount_eur": lot.annual_amount,
        "total_amount_eur": total,
        "shares": [
            {
                "organization": s.organization.code,
                "annual_amount_eur": s.annual_amount,
                "total_amount_eur": s.total_amount,
                "quantity": s.quantity,
            }
            for s in lot.shares
        ],
    }


def _lot_values(body: dict) -> services.LotValues:
    return services.LotValues(
        title=body["title"],
        cpv_code=body["cpv_code"],
        description=body.get("description", ""),
        delivery_area=body.get("delivery_area", ""),
        shares={
            s["organization"].upper(): {"annual_amount": s["annual_amount_eur"], "quantity": s.get("quantity")}
            for s in body["shares"]
        },
    )


@blp.get("/groups")
@require("coordinator", "admin", "buyer")
@blp.arguments(PageQuery, location="query")
@blp.response(200, GroupList)
def list_groups(args):
    """Groups the caller may see: coordinators and admins all, buyers their organization's; oldest first, `per_page`
    (1 to 200, default 50) a page, `next` the path of the following page."""
    stmt = services.visible_groups(current_user).options(*services.GROUP_DETAILS)
    groups, next_page = page_of(stmt.order_by(PurchaseGroup.created_at, PurchaseGroup.id), args)
    impacts = group_impacts(db.session, [g.id for g in groups])
    return {"items": [group_payload(g, impacts) for g in groups], "next": next_page}


@blp.post("/groups")
@require("coordinator")
@blp.arguments(GroupCreate)
@blp.response(201, GroupOut)
@blp.alt_response(400, schema=ErrorEnvelope, description="validation_error")
@actions.committed
def create_group(body):
    """Form a group from submitted needs; their organizations (and the coordinating one) are invited."""
    group = services.form_group(
        db.session,
        current_user,
        name=body["name"],
        need_ids=body["need_ids"],
        coordinator_organization_code=body.get("coordinator_organization"),
        scope_cpv_prefix=body.get("scope_cpv_prefix"),
        planned_publication_on=body.get("planned_publication_on"),
    )
    return group_payload(group)


@blp.get("/groups/<int:group_id>")
@require("coordinator", "admin", "buyer")
@blp.response(200, GroupOut)
@blp.alt_response(404, schema=ErrorEnvelope, description="not_found")
def get_group(group_id):
    return group_payload(services.get_group(db.session, current_user, group_id))


@blp.patch("/groups/<int:group_id>")
@require("coordinator")
@blp.arguments(GroupPatch)
@blp.response(200, GroupOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="stale_version (details.current has today's values)")
@actions.committed
def patch_group(body, group_id):
    """Change the group's own fields, based on the version read."""
    group = services.get_group(db.session, current_user, group_id)
    version = body.pop("version")
    services.update_group(db.session, current_user, group, body, expected_version=version)
    return group_payload(group)


@blp.post("/groups/<int:group_id>/confirm")
@require("buyer")
@blp.arguments(ConfirmBody)
@blp.response(200, GroupOut)
@actions.committed
def confirm(body, group_id):
    """A member's buyer confirms, optionally choosing its needs and adjusting their amounts."""
    group = services.get_group(db.session, current_user, group_id)
    adjustments: dict[int, dict] = {}
    for key, change in (body.get("adjustments") or {}).items():
        need_id = posted_int(key)
        if need_id is None:
            raise ValidationFailed({"adjustments": [f"{key!r} is not a need id."]})
        adjustments[need_id] = {"annual_amount": change.get("annual_amount_eur")}
        if "quantity" in change:
            adjustments[need_id]["quantity"] = change["quantity"]
    services.confirm_membership(db.session, current_user, group, body.get("need_ids"), adjustments)
    return group_payload(group)


@blp.post("/groups/<int:group_id>/decline")
@require("buyer")
@blp.arguments(DeclineBody)
@blp.response(200, GroupOut)
@actions.committed
def decline(body, group_id):
    group = services.get_group(db.session, current_user, group_id)
    services.decline_membership(db.session, current_user, group, body["reason"])
    return group_payload(group)


@blp.post("/groups/<int:group_id>/sign")
@require("buyer")
@blp.arguments(SignBody)
@blp.response(200, GroupOut)
@actions.committed
def sign(body, group_id):
    """A confirmed member records its signature of the convention (date and reference of its deliberation)."""
    group = services.get_group(db.session, current_user, group_id)
    services.sign_convention(
        db.session,
        current_user,
        group,
        signed_on=body.get("signed_on"),
        deliberation_reference=body.get("deliberation_reference"),
    )
    return group_payload(group)


@blp.post("/groups/<int:group_id>/invite")
@require("coordinator")
@blp.arguments(InviteBody)
@blp.response(200, GroupOut)
@actions.committed
def invite(body, group_id):
    """Invite an organization, or re-invite one that declined."""
    group = services.get_group(db.session, current_user, group_id)
    services.invite_organization(db.session, current_user, group, body["organization"])
    return group_payload(group)


@blp.post("/groups/<int:group_id>/constitute")
@require("coordinator")
@blp.response(200, GroupOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="members_pending (details.pending lists them)")
@actions.committed
def constitute(group_id):
    """Constitute the group once every member answered and every confirmed member signed."""
    group = services.get_group(db.session, current_user, group_id)
    services.constitute_group(db.session, current_user, group)
    return group_payload(group)


@blp.get("/groups/<int:group_id>/events")
@require("coordinator", "admin", "buyer")
@blp.response(200, EventList)
def group_events(group_id):
    """The group's activity log, newest first (read only)."""
    group = services.get_group(db.session, current_user, group_id)
    return {"items": services.events(db.session, current_user, group), "next": None}


@blp.post("/groups/<int:group_id>/lots")
@require("coordinator")
@blp.arguments(LotBody)
@blp.response(201, LotOut)
@actions.committed
def create_lot(body, group_id):
    group = services.get_group(db.session, current_user, group_id)
    lot = services.create_lot(db.session, current_user, group, _lot_values(body))
    return lot_payload(lot)


@blp.patch("/groups/<int:group_id>/lots/<int:lot_id>")
@require("coordinator")
@blp.arguments(LotPatch)
@blp.response(200, LotOut)
@blp.alt_response(409, schema=ErrorEnvelope, description="stale_version")
@actions.committed
def patch_lot(body, group_id, lot_id):
    group = services.get_group(db.session, current_user, group_id)
    lot = services.get_lot(db.session, current_user, group, lot_id)
    services.update_lot(db.session, current_user, lot, _lot_values(body), expected_version=body["version"])
    return lot_payload(lot)


@blp.delete("/groups/<int:group_id>/lots/<int:lot_id>")
@require("coordinator")
@blp.response(204)
@actions.committed
def delete_lot(group_id, lot_id):
    group = services.get_group(db.session, current_user, group_id)
    services.delete_lot(db.session, current_user, services.get_lot(db.session, current_user, group, lot_id))
