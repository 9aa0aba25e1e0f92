from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app import actions
from app.accounts import bp, registration, services
from app.accounts.auth import login_required, public
from app.accounts.forms import (
    AcceptInvitationForm,
    ChoosePasswordForm,
    LoginForm,
    PasswordChangeForm,
    SupplierRegistrationForm,
)
from app.accounts.throttling import (
    link_throttled,
    login_throttled,
    password_change_throttled,
    registration_throttled,
)
from app.errors import DomainError
from app.extensions import db
from app.forms import safe_next


def _fresh_session() -> None:
    """Start a new session at login and logout (no fixation), keeping only the language choice. Call it before
    `logout_user()`, which leaves in the session the note that deletes the remember-me cookie."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.route("/login", methods=["GET", "POST"])
@public
@login_throttled(failed=lambda response: response.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    done = actions.submit(form, lambda: services.authenticate(db.session, form.email.data, form.password.data))
    if done:
        _fresh_session()
        login_user(done.value, remember=form.remember.data)
        return redirect(safe_next(request.args.get("next"), url_for("main.home")))
    return render_template("accounts/login.html", form=form), done.status


@bp.post("/logout")
@login_required
def logout():
    actions.run(lambda: services.log_out(db.session, current_user))
    _fresh_session()  # before logout_user(), which leaves the note that deletes the remember-me cookie
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@password_change_throttled
def change_password():
    form = PasswordChangeForm()
    done = actions.submit(
        form,
        lambda: services.change_password(db.session, current_user, form.current_password.data, form.new_password.data),
        success=_("Your password has been changed. Your other sessions are logged out."),
    )
    if done:
        login_user(current_user)  # a fresh session for the new password generation
        return redirect(url_for("main.home"))
    return render_template("accounts/password.html", form=form), done.status


@bp.route("/register", methods=["GET", "POST"])
@public
@registration_throttled
def register():
    """The same answer whether the email or the SIRET is known: what happened is told by mail only, and the mail
    leaves after the request's commit, like every other."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SupplierRegistrationForm()

    def check_and_tell():
        values = services.SupplierRegistration(
            email=form.email.data,
            full_name=form.full_name.data,
            company_name=form.company_name.data,
            siret=form.siret.data,
            postcode=form.postcode.data,
            city=form.city.data,
            is_sme=form.is_sme.data,
            trades=(form.trades.data or "").split(","),
        )
        registration.queue_registration_mail(db.session, services.check_supplier_registration(db.session, values))

    done = actions.submit(form, check_and_tell)
    if done:
        return redirect(url_for(".registration_sent"))
    return render_template("accounts/register.html", form=form), done.status


@bp.get("/register/sent")
@public
def registration_sent():
    return render_template("accounts/registration_sent.html", hours=current_app.config["REGISTRATION_LINK_HOURS"])


def _link_refused(error: DomainError):
    return render_template("accounts/link_invalid.html", message=error.message), 404


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
@public
@link_throttled
def confirm_registration(token: str):
    """The link sent by mail: the registrant chooses a password, and the company and its account are created."""
    try:
        check = services.check_supplier_registration(db.session, registration.values_from_token(token))
        if check.account is not None or check.company is not None:
            raise services.already_registered()
    except DomainError as error:
        return _link_refused(error)
    form = ChoosePasswordForm()

    def create():
        # the same link confirmed twice at once: register_supplier, run again after the unique-constraint conflict,
        # finds the account and refuses with already_registered
        return services.register_supplier(db.session, check.values, form.password.data)

    done = actions.submit(form, create, success=_("Welcome to Mutualis: your company is registered."))
    if done:
        _fresh_session()
        login_user(done.value)
        return redirect(url_for("main.home"))
    if done.error is not None and done.error.code == "already_registered":
        return _link_refused(done.error)
    return render_template("accounts/confirm_registration.html", form=form, values=check.values), done.status


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
@link_throttled
def accept_invitation(token: str):
    try:
        invitation = services.find_invitation(db.session, token)
    except DomainError as error:
        return render_template("accounts/invitation_invalid.html", message=error.message), 404
    form = AcceptInvitationForm()
    done = actions.submit(
        form,
        lambda: services.accept_invitation(db.session, token, form.full_name.data, form.password.data),
        success=_("Your account is ready."),
    )
    if done:
        logout_user()
        login_user(done.value)
        return redirect(url_for("main.home"))
    return render_template("accounts/accept_invitation.html", form=form, invitation=invitation), done.status
