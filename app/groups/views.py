"""HTML pages of pooled-purchase groups (groupements de commandes): list, forming, the group page and its actions,
editing, lots and the convention constitutive.

Every rule (who sees a group, who may do what, when) lives in app.groups.services: the views parse the forms and
call the service through app.actions (commit once, or roll back and put the errors back on the form, with the
status of the refusal). What the pages show (labels, badges,
the activity log in words, the "what changed" rows) is built in app.groups.presenters. The buttons shown only
decide what to offer; the services refuse anything else.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import contains_eager, selectinload

from app import actions, confirmation
from app.accounts.auth import roles_required
from app.clock import paris_today
from app.domain.cpv import code_of_prefix
from app.errors import ValidationFailed
from app.extensions import db
from app.forms import form_version, posted_int
from app.groups import (
    bp,
    models,  # noqa: F401
    presenters,
    services,
)
from app.groups.forms import (
    GROUP_STATUS_LABELS,
    AbandonForm,
    DeclineForm,
    EditGroupForm,
    InviteForm,
    NewGroupForm,
    ProposeNeedForm,
    SignForm,
    confirm_form,
    lot_form,
    need_choices,
    organization_choices,
)
from app.groups.models import Membership, PurchaseGroup
from app.i18n import current_language
from app.impact.services import group_impacts
from app.needs import services as need_services
from app.needs.models import Need
from app.organizations.services import list_buyer_organizations
from app.overlaps.presenters import PROCEDURE_BADGES, PROCEDURE_SHORT
from app.pagination import page_number, paginate, paginate_list
from app.reference.models import CpvCode

NEEDS_SHOWN = 300  # the need picker of the "new group" page; a CPV filter narrows it
RECENT_EVENTS = 8  # shown next to a refused (stale) edit
HOME_SHOWN = 10  # groups listed on a home page (forming ones, invitations), with their count


@bp.app_context_processor
def _group_helpers():
    return {
        "group_status_label": presenters.group_status_label,
        "group_status_badge": presenters.group_status_badge,
        "member_status_label": presenters.member_status_label,
        "member_status_badge": presenters.member_status_badge,
        "share_percent": presenters.share_percent,
        "group_invitations": _group_invitations,
        "forming_groups": _forming_groups,
    }


def _is_coordinator() -> bool:
    return current_user.role == "coordinator"


def _membership(group: PurchaseGroup) -> Membership | None:
    """The acting buyer's organization's membership (services.access.member_of decides; this only picks buttons)."""
    if current_user.role != "buyer":
        return None
    return group.membership_of(current_user.organization_id)


def _load_group(group_id: int) -> PurchaseGroup:
    """The group as the service scopes it, with its collections in one statement each (no query per row)."""
    return services.get_group(db.session, current_user, group_id, services.GROUP_DETAILS)


def _back(group_id: int, anchor: str | None = None):
    return redirect(url_for(".group_detail", group_id=group_id, _anchor=anchor))


# --- home panels -------------------------------------------------------------------------------------------------


def _group_invitations():
    """The buyer's organization's memberships of forming groups that wait for its answer or signature: the first
    ten and how many there are."""
    if not current_user.is_authenticated or current_user.role != "buyer":
        return paginate_list([], 1)
    stmt = (
        sa.select(Membership)
        .join(Membership.group)
        .where(
            Membership.organization_id == current_user.organization_id,
            Membership.status.in_(("invited", "confirmed")),
            PurchaseGroup.status == "forming",
        )
        .options(contains_eager(Membership.group))
        .order_by(PurchaseGroup.planned_publication_on.is_(None), PurchaseGroup.planned_publication_on, Membership.id)
    )
    return paginate(stmt, 1, per_page=HOME_SHOWN)


def _forming_groups():
    """The latest forming groups with their memberships (for the pending members) and how many there are, for the
    coordinator's home page (the groups list pages through all of them)."""
    if not current_user.is_authenticated or current_user.role != "coordinator":
        return paginate_list([], 1)
    stmt = (
        services.visible_groups(current_user)
        .where(PurchaseGroup.status == "forming")
        .options(selectinload(PurchaseGroup.memberships))
        .order_by(PurchaseGroup.created_at.desc(), PurchaseGroup.id.desc())
    )
    return paginate(stmt, 1, per_page=HOME_SHOWN)


# --- list ----------------------------------------------------------------------------------------------------------


@bp.get("/groups")
@roles_required("buyer", "coordinator", "admin")
def list_groups():
    status = request.args.get("status") or None
    stmt = services.visible_groups(current_user).options(*services.GROUP_DETAILS)
    if status in GROUP_STATUS_LABELS:
        stmt = stmt.where(PurchaseGroup.status == status)
    else:
        status = None
    stmt = stmt.order_by(
        sa.case({"forming": 0, "constituted": 1}, value=PurchaseGroup.status, else_=2),
        PurchaseGroup.created_at.desc(),
        PurchaseGroup.id.desc(),
    )
    today = paris_today()
    pagination = paginate(stmt, page_number())
    rows = [(group, services.summarize(group, today=today)) for group in pagination.items]

    def page_url(page: int) -> str:
        return url_for(".list_groups", status=status, page=page)

    return render_template(
        "groups/list.html",
        rows=rows,
        status=status,
        statuses=GROUP_STATUS_LABELS,
        pagination=pagination,
        page_url=page_url,
    )


# --- forming a group -----------------------------------------------------------------------------------------------


def _ids(values) -> list[int]:
    """Need ids from query arguments: "1,2,3" or repeated need_ids=1&need_ids=2; anything else is ignored."""
    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            need_id = posted_int(part)
            if need_id is not None and need_id not in ids:
                ids.append(need_id)
    return ids


def _candidate_needs(cpv_filter: str | None, ticked: list[int]) -> tuple[list[Need], str | None]:
    """Submitted needs (the ticked ones always, the others matching the CPV filter), through the needs' own scope."""
    problem = None
    try:
        stmt = need_services.filtered_needs(
            current_user, need_services.NeedFilters(status="submitted", cpv=cpv_filter or None)
        )
    except ValidationFailed as error:
        problem = "; ".join(m for messages in error.reasons.values() for m in messages)
        stmt = need_services.filtered_needs(current_user, need_services.NeedFilters(status="submitted"))
    if ticked:
        stmt = stmt.where(Need.id.not_in(ticked))
    stmt = stmt.order_by(Need.cpv_code, Need.start_date, Need.id).limit(NEEDS_SHOWN)
    needs = list(db.session.scalars(stmt))
    if ticked:
        chosen = need_services.visible_needs(current_user).where(Need.id.in_(ticked)).order_by(Need.cpv_code, Need.id)
        needs = list(db.session.scalars(chosen)) + needs
    return needs, problem


@bp.route("/groups/new", methods=["GET", "POST"])
@roles_required("coordinator")
def new_group():
    lang = current_language()
    organizations = list_buyer_organizations(db.session)
    own_code = current_user.organization.code if current_user.organization else ""
    if request.method == "POST":
        form = NewGroupForm()
    else:
        scope = (request.args.get("scope") or request.args.get("scope_cpv_prefix") or "").strip()
        name = (request.args.get("name") or "").strip()
        if not name and scope:
            label = presenters.cpv_label(db.session, scope, lang)
            name = _("Group %(label)s", label=label or scope)
        planned = request.args.get("planned_publication_on") or ""
        try:
            planned_on = date.fromisoformat(planned) if planned else None
        except ValueError:
            planned_on = None
        form = NewGroupForm(
            formdata=None,
            data={
                "name": name,
                "scope_cpv_prefix": scope,
                "coordinator_organization": request.args.get("coordinator_organization") or own_code,
                "planned_publication_on": planned_on,
                "need_ids": _ids(request.args.getlist("need_ids")),
            },
        )
    form.coordinator_organization.choices = organization_choices(
        organizations, placeholder=_l("Choose the coordinating organization")
    )
    done = actions.submit(
        form,
        lambda: services.form_group(
            db.session,
            current_user,
            name=form.name.data or "",
            need_ids=form.need_ids.data or [],
            coordinator_organization_code=form.coordinator_organization.data or None,
            scope_cpv_prefix=form.scope_cpv_prefix.data or None,
            planned_publication_on=form.planned_publication_on.data,
        ),
        rename=lambda key: "coordinator_organization" if key.startswith("coordinator") else key,
        success=lambda group: _(
            "The group “%(name)s” is formed: its member organizations are invited.", name=group.name
        ),
    )
    if done:
        return redirect(url_for(".group_detail", group_id=done.value.id))
    ticked = list(form.need_ids.data or [])
    cpv_filter = (request.args.get("cpv") or "").strip()
    needs, filter_problem = _candidate_needs(cpv_filter, ticked)
    return render_template(
        "groups/new.html",
        form=form,
        needs=needs,
        ticked=set(ticked),
        cpv_filter=cpv_filter,
        filter_problem=filter_problem,
        limit=NEEDS_SHOWN,
        lang=lang,
    ), done.status


# --- the group page ------------------------------------------------------------------------------------------------


def _described_events(group: PurchaseGroup, limit: int | None = None) -> list[dict]:
    return presenters.describe_events(group, services.events(db.session, current_user, group), limit)


def _invite_choices(group: PurchaseGroup):
    """Organizations not in the group yet, and the members that declined (they may be invited again)."""
    members = {m.organization_id: m.status for m in group.memberships}
    return [o for o in list_buyer_organizations(db.session) if members.get(o.id, "declined") == "declined"]


def _proposable_needs(group: PurchaseGroup) -> list[Need]:
    in_group = [gn.need_id for gn in group.group_needs]
    stmt = need_services.filtered_needs(current_user, need_services.NeedFilters(status="submitted"))
    if in_group:
        stmt = stmt.where(Need.id.not_in(in_group))
    return list(db.session.scalars(stmt.order_by(Need.start_date, Need.id)))


def _default_confirm_form(group: PurchaseGroup, membership: Membership):
    own = presenters.needs_by_member(group).get(membership.organization_id, [])
    if membership.status == "confirmed":
        chosen = [gn.need_id for gn in own if gn.included]
    else:
        chosen = [gn.need_id for gn in own]
    return confirm_form(own, chosen=chosen)


def _render_detail(group: PurchaseGroup, status: int = 200, **forms):
    """The group page; `forms` replaces the blank action forms by bound ones carrying the user's input and errors."""
    lang = current_language()
    today = paris_today()
    summary = services.summarize(group, today=today)
    membership = _membership(group)
    coordinator = _is_coordinator()
    forming = group.status == "forming"
    manageable = group.status in ("forming", "constituted")
    context: dict = {
        "group": group,
        "summary": summary,
        "impact": group_impacts(db.session, [group.id])[group.id],
        "procedure_unknown": services.procedure_unknown_reason(summary),
        "small_lots": presenters.small_group_lots(group, summary),
        "figures": {f.organization.id: f for f in summary.members},
        "needs_by_member": presenters.needs_by_member(group),
        "need_state": lambda gn: presenters.need_state(group, gn),
        "membership": membership,
        "coordinator": coordinator,
        "forming": forming,
        "manageable": manageable,
        "events": _described_events(group),
        "lang": lang,
        "today": today,
        "procedure_badges": PROCEDURE_BADGES,
        "procedure_short": PROCEDURE_SHORT,
        "scope_label": presenters.cpv_label(db.session, group.scope_cpv_prefix, lang),
        "active_members": presenters.active_members(group),
        "suggestions": [],
        "pending": [m for m in group.memberships if m.status in ("invited", "confirmed")],
        "can_answer": False,
        "can_decline": False,
        "can_sign": False,
        "proposable": [],
    }
    if coordinator and manageable:
        if not group.lots:
            suggestions = services.suggest_lots(db.session, group, lang)
            context["suggestions"] = suggestions
            context["org_codes"] = {m.organization_id: m.organization.code for m in group.memberships}
        context["lot_form"] = forms.get("lot_form") or lot_form(presenters.active_members(group))
        if forming:
            invite = forms.get("invite_form") or InviteForm(prefix="invite", formdata=None)
            invite.organization.choices = organization_choices(
                _invite_choices(group), placeholder=_l("Choose an organization")
            )
            context["invite_form"] = invite
            context["abandon_form"] = forms.get("abandon_form") or AbandonForm(prefix="abandon", formdata=None)
    if membership is not None and forming:
        answering = membership.status in ("invited", "confirmed")
        context["can_answer"] = answering
        context["can_decline"] = (
            membership.status != "signed" and membership.organization_id != group.coordinator_organization_id
        )
        context["can_sign"] = membership.status == "confirmed"
        if answering:
            context["confirm_form"] = forms.get("confirm_form") or _default_confirm_form(group, membership)
            context["own_needs"] = context["needs_by_member"].get(membership.organization_id, [])
            proposable = _proposable_needs(group)
            context["proposable"] = proposable
            propose = forms.get("propose_form") or ProposeNeedForm(prefix="propose", formdata=None)
            propose.need_id.choices = need_choices(proposable)
            context["propose_form"] = propose
        if context["can_decline"]:
            context["decline_form"] = forms.get("decline_form") or DeclineForm(prefix="decline", formdata=None)
        if context["can_sign"]:
            context["sign_form"] = forms.get("sign_form") or SignForm(
                prefix="sign", formdata=None, data={"signed_on": today}
            )
    return render_template("groups/detail.html", **context), status


@bp.get("/groups/<int:group_id>")
@roles_required("buyer", "coordinator", "admin")
def group_detail(group_id: int):
    return _render_detail(_load_group(group_id))


# --- members' answers ----------------------------------------------------------------------------------------------


def _adjustment_field(key: str) -> str:
    """'adjustments.12.annual_amount' → 'amount_12'; 'adjustments.12.quantity' → 'quantity_12'."""
    parts = key.split(".")
    if parts[0] == "adjustments" and len(parts) == 3:
        return ("amount_" if parts[2] == "annual_amount" else "quantity_") + parts[1]
    if parts[0] == "adjustments" and len(parts) == 2:
        return "need_ids"
    return key


@bp.post("/groups/<int:group_id>/confirm")
@roles_required("buyer")
def confirm(group_id: int):
    group = _load_group(group_id)
    membership = _membership(group)
    own = presenters.needs_by_member(group).get(membership.organization_id, []) if membership else []
    form = confirm_form(own, formdata=request.form)

    def confirm_needs():
        chosen = list(form.need_ids.data or [])
        adjustments: dict[int, dict] = {}
        missing: dict[str, list[str]] = {}
        for gn in own:
            if gn.need_id not in chosen:
                continue
            amount = form[f"amount_{gn.need_id}"]
            if amount.data is None:
                missing[f"amount_{gn.need_id}"] = [_("Give the yearly amount this need brings to the group.")]
            adjustments[gn.need_id] = {"annual_amount": amount.data, "quantity": form[f"quantity_{gn.need_id}"].data}
        if missing:
            raise ValidationFailed(missing)
        services.confirm_membership(db.session, current_user, group, chosen, adjustments)

    done = actions.submit(
        form,
        confirm_needs,
        rename=_adjustment_field,
        success=_("Your organization's participation is confirmed. Next step: sign the convention."),
    )
    if done:
        return _back(group_id, "actions")
    return _render_detail(group, done.status, confirm_form=form)


@bp.post("/groups/<int:group_id>/decline")
@roles_required("buyer")
def decline(group_id: int):
    group = _load_group(group_id)
    form = DeclineForm(prefix="decline")
    done = actions.submit(
        form,
        lambda: services.decline_membership(db.session, current_user, group, form.reason.data or ""),
        success=_("Your organization declined the invitation. The coordinators are told why."),
    )
    if done:
        return _back(group_id)
    return _render_detail(group, done.status, decline_form=form)


@bp.post("/groups/<int:group_id>/propose")
@roles_required("buyer")
def propose_need(group_id: int):
    group = _load_group(group_id)
    form = ProposeNeedForm(prefix="propose")

    def propose():
        if form.need_id.data is None:
            raise ValidationFailed({"need_id": [_("Choose a need.")]})
        services.propose_need(db.session, current_user, group, form.need_id.data)

    done = actions.submit(form, propose, success=_("Your need is added to the group. Check its amount, then confirm."))
    if done:
        return _back(group_id, "actions")
    return _render_detail(group, done.status, propose_form=form)


@bp.post("/groups/<int:group_id>/sign")
@roles_required("buyer")
def sign(group_id: int):
    group = _load_group(group_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            _("Sign the convention"),
            _("Sign the convention of “%(group)s” for your organization?", group=group.name),
            [
                _("Your organization commits to the group's purchases for the needs it brought."),
                _("The signature is recorded with the date and the deliberation reference given."),
            ],
            _("Yes, sign the convention"),
            url_for(".group_detail", group_id=group.id),
        )
    form = SignForm(prefix="sign")
    done = actions.submit(
        form,
        lambda: services.sign_convention(
            db.session,
            current_user,
            group,
            signed_on=form.signed_on.data,
            deliberation_reference=form.deliberation_reference.data or "",
        ),
        success=_("The signature of your organization is recorded."),
    )
    if done:
        return _back(group_id)
    return _render_detail(group, done.status, sign_form=form)


# --- the coordinator's actions -------------------------------------------------------------------------------------


@bp.post("/groups/<int:group_id>/invite")
@roles_required("coordinator")
def invite(group_id: int):
    group = _load_group(group_id)
    form = InviteForm(prefix="invite")
    done = actions.submit(
        form,
        lambda: services.invite_organization(db.session, current_user, group, form.organization.data or ""),
        success=lambda membership: _(
            "%(organization)s is invited: its buyers are notified.", organization=membership.organization.name
        ),
    )
    if done:
        return _back(group_id, "members")
    return _render_detail(group, done.status, invite_form=form)


@bp.post("/groups/<int:group_id>/request-signatures")
@roles_required("coordinator")
def request_signatures(group_id: int):
    group = _load_group(group_id)
    done = actions.submit(None, lambda: services.request_signatures(db.session, current_user, group))
    if not done:
        return _render_detail(group, done.status)
    if done.value:
        flash(
            ngettext(
                "%(num)d organization is asked to sign the convention.",
                "%(num)d organizations are asked to sign the convention.",
                done.value,
            ),
            "success",
        )
    else:
        flash(_("No confirmed member is waiting to sign."), "info")
    return _back(group_id)


@bp.post("/groups/<int:group_id>/constitute")
@roles_required("coordinator")
def constitute(group_id: int):
    group = _load_group(group_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            _("Constitute the group"),
            _("Constitute the group “%(group)s”?", group=group.name),
            [
                _("The members' needs are frozen: they can no longer change."),
                _("Calls for tenders can then be prepared for the group."),
            ],
            _("Yes, constitute the group"),
            url_for(".group_detail", group_id=group.id),
        )
    done = actions.submit(
        None,
        lambda: services.constitute_group(db.session, current_user, group),
        success=_("The group is constituted: its members' needs are frozen."),
        shown_by_page=("members_pending",),
    )
    if done:
        return _back(group_id)
    if done.refused("members_pending"):
        pending = presenters.pending_text(group, done.error.details.get("pending", []))
        flash(_("The group cannot be constituted yet. Waiting for: %(members)s.", members=pending), "danger")
    return _render_detail(group, done.status)


@bp.post("/groups/<int:group_id>/abandon")
@roles_required("coordinator")
def abandon(group_id: int):
    group = _load_group(group_id)
    form = AbandonForm(prefix="abandon")
    done = actions.submit(
        form,
        lambda: services.abandon_group(db.session, current_user, group, form.reason.data or ""),
        success=_("The group is abandoned."),
    )
    if done:
        return _back(group_id)
    return _render_detail(group, done.status, abandon_form=form)


# --- editing, with the "what changed" table on a stale version -------------------------------------------------------


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@roles_required("coordinator")
def edit_group(group_id: int):
    group = _load_group(group_id)
    if group.status not in ("forming", "constituted"):
        flash(_("This group is %(status)s: it can no longer change.", status=GROUP_STATUS_LABELS[group.status]), "info")
        return _back(group_id)
    form = EditGroupForm(obj=group if request.method == "GET" else None)
    done = actions.submit(
        form,
        lambda: services.update_group(
            db.session, current_user, group, form.changes(), expected_version=form_version(form.version.data)
        ),
        success=_("The group is saved."),
        shown_by_page=("stale_version",),
    )
    if done:
        return _back(group_id)
    stale = None
    if done.refused("stale_version"):
        current = done.error.details
        stale = {
            "message": done.error.message,
            "rows": presenters.group_changes(form.changes(), current.get("current", {})),
            "events": _described_events(group, RECENT_EVENTS),
        }
        # The user has now seen the current values: saving again deliberately replaces them.
        form.version.data = current.get("current_version", group.version)
    return render_template("groups/edit.html", form=form, group=group, stale=stale), done.status


# --- lots ------------------------------------------------------------------------------------------------------------


def _lot_values(form, members: list[Membership]) -> services.LotValues:
    """The lot as the service takes it; a share with a quantity but no amount is refused on its field."""
    shares: dict[str, dict] = {}
    missing: dict[str, list[str]] = {}
    for m in members:
        amount = form[f"share_amount_{m.organization_id}"]
        quantity = form[f"share_quantity_{m.organization_id}"]
        if amount.data is None and quantity.data is None:
            continue
        if amount.data is None:
            missing[f"share_amount_{m.organization_id}"] = [_("Give the yearly amount of this share.")]
            continue
        shares[m.organization.code] = {"annual_amount": amount.data, "quantity": quantity.data}
    if missing:
        raise ValidationFailed(missing)
    return services.LotValues(
        title=form.title.data or "",
        cpv_code=form.cpv_code.data or "",
        description=form.description.data or "",
        delivery_area=form.delivery_area.data or "",
        shares=shares,
    )


def _share_field(members: list[Membership]):
    by_code = {m.organization.code: m.organization_id for m in members}

    def rename(key: str) -> str:
        parts = key.split(".")
        if parts[0] == "shares" and len(parts) >= 2 and parts[1] in by_code:
            kind = "quantity" if parts[-1] == "quantity" else "amount"
            return f"share_{kind}_{by_code[parts[1]]}"
        return key

    return rename


@bp.post("/groups/<int:group_id>/lots")
@roles_required("coordinator")
def create_lot(group_id: int):
    group = _load_group(group_id)
    members = presenters.active_members(group)
    form = lot_form(members, formdata=request.form)
    done = actions.submit(
        form,
        lambda: services.create_lot(db.session, current_user, group, _lot_values(form, members)),
        rename=_share_field(members),
        success=lambda lot: _("Lot %(number)d is created.", number=lot.number),
    )
    if done:
        return _back(group_id, "lots")
    return _render_detail(group, done.status, lot_form=form)


@bp.post("/groups/<int:group_id>/lots/suggested")
@roles_required("coordinator")
def create_suggested_lots(group_id: int):
    group = _load_group(group_id)
    if group.lots:
        flash(_("This group already has lots: add or change them one by one."), "warning")
        return _back(group_id, "lots")
    codes = {m.organization_id: m.organization.code for m in group.memberships}
    suggestions = services.suggest_lots(db.session, group, current_language())

    def create_lots():
        for suggestion in suggestions:
            services.create_lot(
                db.session,
                current_user,
                group,
                services.LotValues(
                    title=suggestion.title,
                    cpv_code=suggestion.cpv_code,
                    delivery_area=suggestion.delivery_area,
                    shares={
                        codes[org_id]: {"annual_amount": amount, "quantity": None}
                        for org_id, amount in suggestion.shares.items()
                    },
                ),
            )

    done = actions.submit(
        None,
        create_lots,
        success=ngettext("%(num)d lot is created.", "%(num)d lots are created.", len(suggestions)),
    )
    if done:
        return _back(group_id, "lots")
    return _render_detail(group, done.status)


@bp.route("/groups/<int:group_id>/lots/<int:lot_id>/edit", methods=["GET", "POST"])
@roles_required("coordinator")
def edit_lot(group_id: int, lot_id: int):
    group = _load_group(group_id)
    lot = services.get_lot(db.session, current_user, group, lot_id)
    if group.status not in ("forming", "constituted"):
        flash(_("This group is %(status)s: it can no longer change.", status=GROUP_STATUS_LABELS[group.status]), "info")
        return _back(group_id, "lots")
    members = presenters.active_members(group)
    form = lot_form(members, lot=lot) if request.method == "GET" else lot_form(members, formdata=request.form)
    done = actions.submit(
        form,
        lambda: services.update_lot(
            db.session, current_user, lot, _lot_values(form, members), expected_version=form_version(form.version.data)
        ),
        rename=_share_field(members),
        success=_("The lot is saved."),
        shown_by_page=("stale_version",),
    )
    if done:
        return _back(group_id, "lots")
    stale = None
    if done.refused("stale_version"):
        current = done.error.details
        stale = {
            "message": done.error.message,
            "rows": presenters.lot_changes(group, members, _lot_values(form, members), current.get("current", {})),
            "events": _described_events(group, RECENT_EVENTS),
        }
        form.version.data = current.get("current_version", lot.version)
    cpv = db.session.get(CpvCode, (form.cpv_code.data or "").split("-")[0].strip()) if form.cpv_code.data else None
    return render_template(
        "groups/lot_form.html",
        form=form,
        group=group,
        lot=lot,
        members=members,
        stale=stale,
        cpv_label=f"{cpv.full_code} — {cpv.label(current_language())}" if cpv else "",
    ), done.status


@bp.post("/groups/<int:group_id>/lots/<int:lot_id>/delete")
@roles_required("coordinator")
def delete_lot(group_id: int, lot_id: int):
    group = _load_group(group_id)
    lot = services.get_lot(db.session, current_user, group, lot_id)
    number = lot.number
    if not confirmation.confirmed():
        return confirmation.ask(
            _("Delete the lot"),
            _("Delete lot %(number)d — %(title)s?", number=number, title=lot.title),
            [_("Its members' shares are deleted with it.")],
            _("Yes, delete the lot"),
            url_for(".group_detail", group_id=group.id, _anchor="lots"),
        )
    done = actions.submit(
        None,
        lambda: services.delete_lot(db.session, current_user, lot),
        success=_("Lot %(number)d is deleted.", number=number),
    )
    if done:
        return _back(group_id, "lots")
    return _render_detail(group, done.status)


# --- the convention constitutive -------------------------------------------------------------------------------------


@bp.get("/groups/<int:group_id>/convention")
@roles_required("buyer", "coordinator", "admin")
def convention(group_id: int):
    group = _load_group(group_id)
    lang = request.args.get("lang", "fr")
    if lang not in ("fr", "en"):
        lang = "fr"
    today = paris_today()
    summary = services.summarize(group, today=today)
    parties = presenters.active_members(group)
    figures = {f.organization.id: f for f in summary.members}
    brought = presenters.brought_by_member(group, parties)
    codes = {gn.need.cpv_code for gns in brought.values() for gn in gns} | {lot.cpv_code for lot in group.lots}
    if group.scope_cpv_prefix:
        codes.add(code_of_prefix(group.scope_cpv_prefix))
    cpv = {c.code: c for c in db.session.scalars(sa.select(CpvCode).where(CpvCode.code.in_(codes)))}
    with force_locale(lang):
        document = Markup(  # noqa: S704 - a template rendered with autoescaping
            render_template(
                f"groups/convention_{lang}.html",
                group=group,
                summary=summary,
                parties=parties,
                figures=figures,
                brought=brought,
                cpv=cpv,
                scope=cpv.get(code_of_prefix(group.scope_cpv_prefix)) if group.scope_cpv_prefix else None,
                coordinator=group.coordinator_organization,
                today=today,
            )
        )
    return render_template("groups/convention.html", group=group, document=document, lang=lang)
