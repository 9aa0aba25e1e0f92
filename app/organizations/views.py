import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from wtforms import SelectChoice

from app import actions
from app.accounts import services as account_services
from app.accounts.auth import roles_required
from app.accounts.models import Invitation, User
from app.db import reading_order
from app.extensions import db
from app.mail import queue_mail
from app.navigation import ROLE_LABELS
from app.organizations import bp, services
from app.organizations.forms import InvitationForm, OrganizationForm
from app.organizations.models import Organization, SupplierCompany
from app.pagination import page_number, paginate


@bp.get("/organizations")
@roles_required("admin")
def organizations():
    return render_template("organizations/list.html", organizations=services.list_buyer_organizations(db.session))


def _values(form: OrganizationForm) -> services.OrganizationValues:
    return services.OrganizationValues(
        code=form.code.data,
        name=form.name.data,
        kind=form.kind.data,
        siret=form.siret.data or "",
        postcode=form.postcode.data or "",
        is_central_government=form.is_central_government.data,
    )


@bp.route("/organizations/new", methods=["GET", "POST"])
@roles_required("admin")
def new_organization():
    form = OrganizationForm()
    done = actions.submit(
        form,
        lambda: services.create_organization(db.session, current_user, _values(form)),
        success=_("Organization created."),
    )
    if done:
        return redirect(url_for(".organizations"))
    return render_template("organizations/form.html", form=form, organization=None), done.status


@bp.route("/organizations/<int:organization_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_organization(organization_id: int):
    organization = db.session.get(Organization, organization_id) or abort(404)
    form = OrganizationForm(obj=organization)
    done = actions.submit(
        form,
        lambda: services.update_organization(db.session, current_user, organization, _values(form)),
        success=_("Organization saved."),
    )
    if done:
        return redirect(url_for(".organizations"))
    return render_template("organizations/form.html", form=form, organization=organization), done.status


def _users_page(status: int = 200):
    """The accounts and the pending invitations, a page of each (`page`, `invitations_page`)."""
    people = paginate(sa.select(User).order_by(User.role, User.email, User.id), page_number())
    pending = paginate(
        sa.select(Invitation)
        .where(Invitation.accepted_at.is_(None))
        .options(joinedload(Invitation.organization))
        .order_by(Invitation.created_at.desc(), Invitation.id),
        page_number("invitations_page"),
    )

    def page_url(**pages) -> str:
        return url_for(".users", **{**request.args.to_dict(), **pages})

    def invitations_url(page: int) -> str:
        return page_url(invitations_page=page)

    return (
        render_template(
            "organizations/users.html",
            users=people,
            invitations=pending,
            page_url=page_url,
            invitations_url=invitations_url,
            assignable_roles=account_services.ASSIGNABLE_ROLES,
        ),
        status,
    )


@bp.get("/users")
@roles_required("admin")
def users():
    return _users_page()


def _activation_done(user: User) -> str:
    if user.is_active_account:
        return _("%(email)s can log in again.", email=user.email)
    return _("%(email)s can no longer log in; their sessions and tokens have ended.", email=user.email)


@bp.post("/users/<int:user_id>/deactivate", defaults={"active": False})
@bp.post("/users/<int:user_id>/reactivate", defaults={"active": True})
@roles_required("admin")
def set_user_active(user_id: int, active: bool):
    """Close or reopen an account; either way its sessions and tokens end."""
    done = actions.submit(
        None,
        lambda: account_services.set_user_active(db.session, current_user, user_id, active),
        success=_activation_done,
    )
    if done:
        return redirect(url_for(".users"))
    return _users_page(done.status)


@bp.post("/users/<int:user_id>/role")
@roles_required("admin")
def set_user_role(user_id: int):
    """Change an account's role; its sessions and tokens end, its next login carries the new role."""
    done = actions.submit(
        None,
        lambda: account_services.set_user_role(db.session, current_user, user_id, request.form.get("role", "")),
        success=lambda user: _(
            "%(email)s is now %(role)s; their sessions and tokens have ended.",
            email=user.email,
            role=ROLE_LABELS.get(user.role, user.role),
        ),
    )
    if done:
        return redirect(url_for(".users"))
    return _users_page(done.status)


@bp.get("/suppliers")
@roles_required("admin", "coordinator")
def suppliers():
    stmt = sa.select(SupplierCompany).options(selectinload(SupplierCompany.trades))
    companies = paginate(stmt.order_by(reading_order(SupplierCompany.name), SupplierCompany.id), page_number())

    def page_url(page: int) -> str:
        return url_for(".suppliers", page=page)

    return render_template("organizations/suppliers.html", companies=companies, page_url=page_url)


@bp.route("/invitations/new", methods=["GET", "POST"])
@roles_required("admin")
def invite():
    form = InvitationForm()
    form.organization_id.choices = [SelectChoice("0", "—")] + [
        SelectChoice(str(o.id), f"{o.name} ({o.code})") for o in services.list_buyer_organizations(db.session)
    ]

    def invite_and_mail():
        invitation, token = account_services.invite_user(
            db.session,
            current_user,
            form.email.data,
            form.role.data,
            form.organization_id.data or None,
            days=current_app.config["INVITATION_DAYS"],
        )
        link = url_for("accounts.accept_invitation", token=token, _external=True)
        queue_mail(
            db.session,
            invitation.email,
            _("Your invitation to Mutualis"),
            _(
                "%(name)s invites you to Mutualis, the pooled purchasing platform of Dijon métropole "
                "and its partners.\n\nCreate your account with this link (valid %(days)d days):\n%(link)s\n",
                name=current_user.display_name,
                days=current_app.config["INVITATION_DAYS"],
                link=link,
            ),
        )
        return invitation.email

    done = actions.submit(form, invite_and_mail, success=lambda email: _("Invitation sent to %(email)s.", email=email))
    if done:
        return redirect(url_for(".users"))
    return render_template("organizations/invite.html", form=form), done.status
