import logging

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import IntegrityError

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
from app.forms import apply_errors, safe_next

log = logging.getLogger("mutualis.accounts")


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
    if form.validate_on_submit():
        try:
            user = services.authenticate(db.session, form.email.data, form.password.data)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            _fresh_session()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next"), url_for("main.home")))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    services.log_out(db.session, current_user)
    db.session.commit()
    _fresh_session()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@password_change_throttled
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(db.session, current_user, form.current_password.data, form.new_password.data)
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            login_user(current_user)  # a fresh session for the new password generation
            flash(_("Your password has been changed. Your other sessions are logged out."), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/password.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@public
@registration_throttled
def register():
    """The same answer whether the email or the SIRET is known: what happened is told by mail only."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SupplierRegistrationForm()
    if form.validate_on_submit():
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
        try:
            check = services.check_supplier_registration(db.session, values)
        except DomainError as error:
            apply_errors(form, error)
        else:
            try:
                registration.send_registration_mail(check)
            except OSError:
                log.exception("registration mail to %s failed", check.values.email)
                flash(_("The mail could not be sent. Try again in a few minutes."), "danger")
            else:
                return redirect(url_for(".registration_sent"))
    return render_template("accounts/register.html", form=form)


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
    if form.validate_on_submit():
        try:
            user = services.register_supplier(db.session, check.values, form.password.data)
            db.session.commit()
        except IntegrityError:  # the same link confirmed twice at once: the other request created the account
            db.session.rollback()
            return _link_refused(services.already_registered())
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            _fresh_session()
            login_user(user)
            flash(_("Welcome to Mutualis: your company is registered."), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/confirm_registration.html", form=form, values=check.values)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
@link_throttled
def accept_invitation(token: str):
    try:
        invitation = services.find_invitation(db.session, token)
    except DomainError as error:
        return render_template("accounts/invitation_invalid.html", message=error.message), 404
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(db.session, token, form.full_name.data, form.password.data)
        except DomainError as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            logout_user()
            login_user(user)
            flash(_("Your account is ready."), "success")
            return redirect(url_for("main.home"))
    return render_template("accounts/accept_invitation.html", form=form, invitation=invitation)
