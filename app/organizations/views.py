import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.accounts import services as account_services
from app.accounts.auth import roles_required
from app.accounts.models import Invitation, User
from app.errors import DomainError, NotFound
from app.extensions import db
from app.forms import apply_errors, commit_form, flash_error
from app.mail import send_mail
from app.organizations import bp, services
from app.organizations.forms import InvitationForm, OrganizationForm
from app.organizations.models import Organization, SupplierCompany


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
    if commit_form(
        form, lambda: services.create_organization(db.session, current_user, _values(form)), _("Organization created.")
    ):
        return redirect(url_for(".organizations"))
    return render_template("organizations/form.html", form=form, organization=None)


@bp.route("/organizations/<int:organization_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_organization(organization_id: int):
    organization = db.session.get(Organization, organization_id) or abort(404)
    form = OrganizationForm(obj=organization)
    if commit_form(
        form,
        lambda: services.update_organization(db.session, current_user, organization, _values(form)),
        _("Organization saved."),
    ):
        return redirect(url_for(".organizations"))
    return render_template("organizations/form.html", form=form, organization=organization)


@bp.get("/users")
@roles_required("admin")
def users():
    people = db.session.scalars(sa.select(User).order_by(User.role, User.email)).all()
    pending = db.session.scalars(
        sa.select(Invitation).where(Invitation.accepted_at.is_(None)).order_by(Invitation.created_at.desc())
    ).all()
    return render_template("organizations/users.html", users=people, invitations=pending)


@bp.post("/users/<int:user_id>/deactivate", defaults={"active": False})
@bp.post("/users/<int:user_id>/reactivate", defaults={"active": True})
@roles_required("admin")
def set_user_active(user_id: int, active: bool):
    """Close or reopen an account; either way its sessions and tokens end."""
    try:
        user = account_services.set_user_active(db.session, current_user, user_id, active)
    except NotFound:
        abort(404)
    except DomainError as error:
        db.session.rollback()
        flash_error(error)
    else:
        db.session.commit()
        if active:
            flash(_("%(email)s can log in again.", email=user.email), "success")
        else:
            flash(
                _("%(email)s can no longer log in; their sessions and tokens have ended.", email=user.email), "success"
            )
    return redirect(url_for(".users"))


@bp.get("/suppliers")
@roles_required("admin", "coordinator")
def suppliers():
    companies = db.session.scalars(sa.select(SupplierCompany).order_by(SupplierCompany.name)).all()
    return render_template("organizations/suppliers.html", companies=companies)


@bp.route("/invitations/new", methods=["GET", "POST"])
@roles_required("admin")
def invite():
    form = InvitationForm()
    form.organization_id.choices = [SelectChoice("0", "—")] + [
        SelectChoice(str(o.id), f"{o.name} ({o.code})") for o in services.list_buyer_organizations(db.session)
    ]
    if form.validate_on_submit():
        try:
            invitation, token = account_services.invite_user(
                db.session,
                current_user,
                form.email.data,
                form.role.data,
                form.organization_id.data or None,
                days=current_app.config["INVITATION_DAYS"],
            )
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            link = url_for("accounts.accept_invitation", token=token, _external=True)
            send_mail(
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
            flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
            return redirect(url_for(".users"))
    return render_template("organizations/invite.html", form=form)
